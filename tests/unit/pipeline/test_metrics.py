"""The node_exporter textfile and the ``status --check`` verdict, read back with Prometheus'
own text-format parser (``prometheus_client``, a test dependency only)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nm_cloud_setup.model import Address, InterfaceData, IpConfig, Rule
from nm_cloud_setup.pipeline import metrics
from nm_cloud_setup.pipeline.outcome import DeviceReport, Outcome

FIGURES = metrics.RunFigures(started=1_800_000_000.25, duration=0.5, requests=11,
                             version="1.0")
IFACE = InterfaceData("02:00:00:00:00:01", 0, ("172.31.16.10", "172.31.16.11"),
                      "172.31.16.0/20")
WANTED = IpConfig((Address("172.31.16.10", 20), Address("172.31.16.11", 20),
                   Address("2600:1f18::10", 64)),
                  rules=(Rule(30200, 30200, "172.31.16.10", 32),
                         Rule(30200, 30200, "172.31.16.11", 32),
                         Rule(30200, 30200, "2600:1f18::10", 128, family=6)))


def samples(text):
    """{(name, sorted labels): value} of every sample, as Prometheus reads them."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def report(ifname="eth1", **kw):
    return DeviceReport(ifname, IFACE.mac, kw.pop("metadata", IFACE), applied=IpConfig(),
                        wanted=WANTED, **kw)


def nic(name, ifname="eth1", **labels):
    return (f"nm_cloud_setup_{name}",
            tuple(sorted({"interface": ifname, "mac": IFACE.mac, **labels}.items())))


def test_a_run_that_repaired_drift():
    outcome = Outcome(provider="ec2", backend="netlink", changed=["eth1"],
                      devices=[report(in_sync=False)])
    found = samples(metrics.render(outcome, FIGURES))
    assert found[("nm_cloud_setup_last_run_timestamp_seconds", ())] == 1_800_000_000.25
    assert found[("nm_cloud_setup_last_run_success", ())] == 1
    assert found[("nm_cloud_setup_last_run_duration_seconds", ())] == 0.5
    assert found[("nm_cloud_setup_last_run_metadata_requests", ())] == 11
    assert found[("nm_cloud_setup_last_run_changed_nics", ())] == 1
    assert found[nic("nic_in_sync")] == 1
    assert found[nic("nic_changed")] == 1
    assert found[nic("nic_addresses", family="ipv4")] == 2
    assert found[nic("nic_addresses", family="ipv6")] == 1
    assert found[nic("nic_rules", family="ipv4")] == 2
    assert found[("nm_cloud_setup_info", (("backend", "netlink"), ("provider", "ec2"),
                                          ("version", "1.0")))] == 1


def test_a_failed_nic_is_out_of_sync_and_the_run_failed():
    outcome = Outcome(provider="ec2", backend="nm", errors=["eth1: failure to reapply"],
                      devices=[report(in_sync=False, error="failure to reapply"),
                               report("eth2", skipped="left alone: excluded")])
    found = samples(metrics.render(outcome, FIGURES))
    assert found[("nm_cloud_setup_last_run_success", ())] == 0
    assert found[("nm_cloud_setup_last_run_errors", ())] == 1
    assert found[nic("nic_in_sync")] == 0
    assert found[nic("nic_addresses", family="ipv4")] == 0  # what it holds: nothing yet
    assert nic("nic_in_sync", "eth2") not in found
    assert found[nic("nic_skipped", "eth2")] == 1


def test_a_run_that_did_not_start():
    found = samples(metrics.render(None, FIGURES))
    assert found[("nm_cloud_setup_last_run_success", ())] == 0
    assert found[("nm_cloud_setup_info", (("backend", ""), ("provider", ""),
                                          ("version", "1.0")))] == 1


def test_label_values_are_escaped():
    odd = 'e"th\\1\n'
    outcome = Outcome(provider="ec2", backend="nm", devices=[report(odd, in_sync=True)])
    found = samples(metrics.render(outcome, FIGURES))
    assert found[nic("nic_in_sync", odd)] == 1


@pytest.mark.parametrize("outcome, status", [
    (Outcome(provider="ec2", devices=[report(in_sync=True),
                                      report("eth2", skipped="skip flag")]), 0),
    (Outcome(provider="ec2", devices=[report(in_sync=True), report("eth2", in_sync=False)]),
     1),
    (Outcome(provider="ec2", errors=["02:00:00:00:00:02: timed out"],
             devices=[report(in_sync=False)]), 1),  # drift is known all the same
    (Outcome(provider="ec2", errors=["02:00:00:00:00:02: timed out"],
             devices=[report(in_sync=True)]), 2),
    (Outcome(provider=None), 2),
    (Outcome(provider="ec2", devices=[report(in_sync=None)]), 2),
    (Outcome(provider="ec2"), 0),  # no NIC to configure: nothing differs
])
def test_check(outcome, status):
    assert metrics.check(outcome)[0] == status


def test_write_replaces_the_file_atomically(tmp_path):
    (tmp_path / metrics.FILE).write_text("old\n")
    assert metrics.write(tmp_path, "new 1\n")
    assert (tmp_path / metrics.FILE).read_text() == "new 1\n"
    assert [p.name for p in tmp_path.iterdir()] == [metrics.FILE]


def test_write_to_a_missing_directory_warns(tmp_path, caplog):
    assert not metrics.write(tmp_path / "absent", "x 1\n")
    assert "cannot write the metrics file" in caplog.text
