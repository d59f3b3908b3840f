"""The pipeline's decisions with an in-memory backend (``configure_device`` and
``configure_all``): the cases a real daemon cannot be made to produce on demand (a refused
Reapply, a mismatch on every try, an exhausted budget)."""

from __future__ import annotations

import time

from nm_cloud_setup.model import Device, InstanceData, InterfaceData
from nm_cloud_setup.pipeline.apply import configure_all, configure_device
from nm_cloud_setup.pipeline.cancel import Cancellation
from nm_cloud_setup.pipeline.outcome import Outcome
from nm_cloud_setup.planning import layout
from tests.support.backends import MemoryBackend


def nic(number: int, *hosts: int, error=None) -> InterfaceData:
    return InterfaceData(f"02:00:00:00:00:0{number}", number - 1,
                         tuple(f"10.0.{number}.{h}" for h in hosts), f"10.0.{number}.0/24",
                         error=error)


DEVICES = [Device(f"02:00:00:00:00:0{n}", f"eth{n}", str(n)) for n in (1, 2)]


def test_mismatch_is_retried_and_then_applied():
    backend = MemoryBackend(mismatches=4)
    changed, error = configure_device(backend, DEVICES[0], nic(1, 10, 11), single=False)
    assert changed and error is None


def test_mismatch_storm_gives_up_after_five_tries():
    backend = MemoryBackend(mismatches=100)
    changed, error = configure_device(backend, DEVICES[0], nic(1, 10, 11), single=False)
    assert not changed and "changed 5 times" in error
    assert backend.mismatches == 95


def test_refused_reapply_is_reported_and_the_other_nic_still_configured():
    backend = MemoryBackend(refuse="eth1")
    outcome = Outcome()
    instance = InstanceData("ec2", (nic(1, 10, 11), nic(2, 10, 11)))
    configure_all(backend, instance, DEVICES, Cancellation(), outcome)
    assert outcome.changed == ["eth2"]
    assert outcome.errors == ['eth1 (02:00:00:00:00:01): failure to reapply connection "eth1": '
                              "Reapply refused (org.freedesktop.NetworkManager.Device.Failed)"]


def test_failed_nic_keeps_its_configuration_and_is_reported():
    backend = MemoryBackend()
    backend.applied["eth2"] = before = layout.cloud_entries(nic(2, 10, 11, 12))
    outcome = Outcome()
    instance = InstanceData("ec2", (nic(1, 10, 11), nic(2, error="HTTP 500")))
    configure_all(backend, instance, DEVICES, Cancellation(), outcome)
    assert backend.applied["eth2"] == before
    assert outcome.changed == ["eth1"] and "HTTP 500" in outcome.errors[0]


def test_a_failed_nic_never_makes_the_instance_look_single_address():
    """One good NIC with one address + one failed NIC: unknown, so nothing is removed."""
    backend = MemoryBackend()
    backend.applied["eth1"] = before = layout.cloud_entries(nic(1, 10, 11))
    outcome = Outcome()
    instance = InstanceData("ec2", (nic(1, 10), nic(2, error="timeout")))
    configure_all(backend, instance, DEVICES, Cancellation(), outcome)
    assert backend.applied["eth1"] == before and outcome.errors


def test_index_beyond_99_is_skipped():
    backend = MemoryBackend()
    far = InterfaceData("02:00:00:00:00:01", 100, ("10.0.1.10", "10.0.1.11"), "10.0.1.0/24")
    configure_all(backend, InstanceData("ec2", (far,)), DEVICES, Cancellation(), Outcome())
    assert backend.applied == {}


def test_apply_budget_leaves_the_rest_for_the_next_run():
    outcome = Outcome()
    configure_all(MemoryBackend(), InstanceData("ec2", (nic(1, 10, 11), nic(2, 10, 11))),
                  DEVICES, Cancellation(), outcome, deadline=time.monotonic() - 1)
    assert outcome.errors == ["the apply time budget is used up; 2 NIC(s) left for the next run"]
