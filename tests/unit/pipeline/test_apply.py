"""The apply phases across devices, with an in-memory backend that records every apply:
whatever leaves a device goes before anything arrives, at no extra cost, and
SIGTERM never cuts a move in half."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Set, Tuple

import pytest

from nm_cloud_setup.backends.base import CommitsLater
from nm_cloud_setup.errors import Cancelled
from nm_cloud_setup.model import Device, InstanceData, InterfaceData, Ipv4Config
from nm_cloud_setup.pipeline.apply import configure_all
from nm_cloud_setup.pipeline.cancel import Cancellation
from nm_cloud_setup.pipeline.outcome import Outcome
from nm_cloud_setup.planning import delta, layout
from tests.support.backends import MemoryBackend

DEVICES = [Device(f"02:00:00:00:00:0{n}", f"eth{n}", str(n)) for n in (1, 2, 3)]


def nic(number: int, *hosts: int, error=None) -> InterfaceData:
    """NIC ``number``, addresses 10.0.0.HOST (all NICs share one subnet, as moves need)."""
    return InterfaceData(f"02:00:00:00:00:0{number}", number - 1,
                         tuple(f"10.0.0.{h}" for h in hosts), "10.0.0.0/24", error=error)


class Recording(MemoryBackend, CommitsLater):
    """Applies are events; after each, no address may be on two devices."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.events: List[Tuple[str, str]] = []  # (ifname, removes|adds|both|neither)
        self.violations: List[str] = []
        self.unconfirmed: Set[str] = set()
        self.on_apply = lambda: None

    def apply(self, device, current, wanted) -> None:
        before = set(delta.held(self.applied.get(device.ifname, Ipv4Config())))
        super().apply(device, current, wanted)
        after = set(delta.held(wanted))
        kind = {(True, False): "removes", (False, True): "adds", (True, True): "both",
                (False, False): "neither"}[bool(before - after), bool(after - before)]
        self.events.append((device.ifname, kind))
        seen: Dict[str, str] = {}
        for ifname, config in sorted(self.applied.items()):
            for address in delta.held(config):
                if address in seen:
                    self.violations.append(f"{address} on {seen[address]} and {ifname}")
                seen[address] = ifname
        self.on_apply()

    def wait_removed(self, device, addresses) -> bool:
        return not set(addresses) & self.unconfirmed

    def configure(self, *ifaces: InterfaceData, cancel=None) -> Outcome:
        outcome = Outcome()
        configure_all(self, InstanceData("ec2", ifaces), DEVICES, cancel or Cancellation(),
                      outcome)
        return outcome

    def holding(self) -> Dict[str, List[str]]:
        return {ifname: sorted(delta.held(config)) for ifname, config in self.applied.items()}

    def applies(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for ifname, _ in self.events:
            counts[ifname] = counts.get(ifname, 0) + 1
        return counts


def started(*ifaces: InterfaceData, **kw) -> Recording:
    """A backend whose devices already hold the plan of ``ifaces``."""
    backend = Recording(**kw)
    for iface in ifaces:
        backend.applied[f"eth{iface.index + 1}"] = layout.desired(iface, Ipv4Config(), False)
    return backend


# (id, before, after, applies per device)
CASES = [
    ("to-a-lower-nic", (nic(1, 10, 11), nic(2, 20, 21)), (nic(1, 10, 11, 21), nic(2, 20)),
     {"eth1": 1, "eth2": 1}),
    ("to-a-higher-nic", (nic(1, 10, 11), nic(2, 20, 21)), (nic(1, 10), nic(2, 20, 21, 11)),
     {"eth1": 1, "eth2": 1}),
    ("swap", (nic(1, 10, 11), nic(2, 20, 21)), (nic(1, 10, 21), nic(2, 20, 11)),
     {"eth1": 2, "eth2": 2}),
    ("round-robin", (nic(1, 10, 11), nic(2, 20, 21), nic(3, 30, 31)),
     (nic(1, 10, 31), nic(2, 20, 11), nic(3, 30, 21)), {"eth1": 2, "eth2": 2, "eth3": 2}),
    ("only-additions", (nic(1, 10), nic(2, 20)), (nic(1, 10, 11), nic(2, 20, 21)),
     {"eth1": 1, "eth2": 1}),
    ("only-removals", (nic(1, 10, 11), nic(2, 20, 21)), (nic(1, 10), nic(2, 20, 22)),
     {"eth1": 1, "eth2": 2}),
    ("no-change", (nic(1, 10, 11), nic(2, 20, 21)), (nic(1, 10, 11), nic(2, 20, 21)), {}),
]


@pytest.mark.parametrize("before, after, applies", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_removals_come_before_additions_at_no_extra_cost(before, after, applies):
    backend = started(*before)
    outcome = backend.configure(*after)
    assert outcome.ok and not backend.violations
    assert backend.holding() == {f"eth{i.index + 1}": sorted(i.addresses) for i in after}
    assert backend.applies() == applies
    kinds = [kind for _, kind in backend.events]
    assert "both" not in kinds  # no device takes and gives in one step
    if "adds" in kinds:
        assert "removes" not in kinds[kinds.index("adds"):]
    assert sorted(outcome.changed) == sorted(applies)


def test_a_nic_whose_removal_failed_keeps_the_address_from_the_other():
    backend = started(nic(1, 10), nic(2, 20, 21), refuse="eth2")
    outcome = backend.configure(nic(1, 10, 21, 12), nic(2, 20))
    assert not backend.violations
    assert backend.holding() == {"eth1": ["10.0.0.10", "10.0.0.12"],
                                 "eth2": ["10.0.0.20", "10.0.0.21"]}
    assert outcome.errors[0].startswith('eth2 (02:00:00:00:00:02): failure to reapply')
    assert outcome.errors[1] == ("eth1 (02:00:00:00:00:01): 10.0.0.21 still on eth2: added once "
                                 "it has left there")
    # Once the other NIC lets go, the next run gives it over.
    backend.refuse = ""
    assert backend.configure(nic(1, 10, 21, 12), nic(2, 20)).ok
    assert backend.holding()["eth1"] == ["10.0.0.10", "10.0.0.12", "10.0.0.21"]


def test_a_nic_whose_metadata_failed_gives_up_what_another_is_given():
    """The other NIC's fresh metadata says where 10.0.0.21 is now: a move the NIC missed."""
    backend = started(nic(1, 10), nic(2, 20, 21, 22))
    outcome = backend.configure(nic(1, 10, 21), nic(2, error="HTTP 500"))
    assert backend.holding() == {"eth1": ["10.0.0.10", "10.0.0.21"],
                                 "eth2": ["10.0.0.20", "10.0.0.22"]}
    assert not backend.violations and backend.applies() == {"eth1": 1, "eth2": 1}
    assert len(outcome.errors) == 1 and "HTTP 500" in outcome.errors[0]


def test_a_nic_gone_from_the_metadata_keeps_all_but_what_another_is_given():
    backend = started(nic(1, 10), nic(2, 20, 21, 22))
    assert backend.configure(nic(1, 10, 11)).ok
    assert backend.holding()["eth2"] == ["10.0.0.20", "10.0.0.21", "10.0.0.22"]
    assert backend.configure(nic(1, 10, 11, 21)).ok
    assert backend.holding() == {"eth1": ["10.0.0.10", "10.0.0.11", "10.0.0.21"],
                                 "eth2": ["10.0.0.20", "10.0.0.22"]}
    assert not backend.violations


def test_a_removal_not_yet_seen_done_holds_the_address_back():
    backend = started(nic(1, 10), nic(2, 20, 21))
    backend.unconfirmed = {"10.0.0.21"}
    outcome = backend.configure(nic(1, 10, 21), nic(2, 20))
    assert not backend.violations and backend.holding()["eth1"] == ["10.0.0.10"]
    assert "10.0.0.21 still on eth2" in outcome.errors[0]


def test_sigterm_during_a_move_finishes_the_move():
    backend = started(nic(1, 10, 11), nic(2, 20, 21))
    cancel = Cancellation()
    backend.on_apply = lambda: cancel.requested or cancel.request()
    with pytest.raises(Cancelled):
        backend.configure(nic(1, 10, 21), nic(2, 20, 11), cancel=cancel)
    assert backend.holding() == {"eth1": ["10.0.0.10", "10.0.0.21"],
                                 "eth2": ["10.0.0.11", "10.0.0.20"]}
    assert not backend.violations


def test_sigterm_without_a_move_stops_after_the_device_in_hand():
    backend = started(nic(1, 10, 11), nic(2, 20, 21))
    cancel = Cancellation()
    backend.on_apply = lambda: cancel.requested or cancel.request()
    with pytest.raises(Cancelled, match="device in hand was finished"):
        backend.configure(nic(1, 10), nic(2, 20), cancel=cancel)
    assert backend.holding() == {"eth1": ["10.0.0.10"], "eth2": ["10.0.0.20", "10.0.0.21"]}


def test_a_changed_connection_is_read_again_in_either_phase():
    backend = started(nic(1, 10, 11), nic(2, 20, 21), mismatches=1)
    assert backend.configure(nic(1, 10, 21), nic(2, 20, 11)).ok
    assert backend.holding() == {"eth1": ["10.0.0.10", "10.0.0.21"],
                                 "eth2": ["10.0.0.11", "10.0.0.20"]}
    assert not backend.violations


def test_rules_left_on_a_nic_hold_their_address_back_too():
    """eth2 lost 10.0.0.21 itself but still routes from it (its removal failed): giving
    the address to eth1 would send its traffic to eth2's tables."""
    backend = started(nic(1, 10), nic(2, 20, 21), refuse="eth2")
    stale = backend.applied["eth2"]
    backend.applied["eth2"] = Ipv4Config(tuple(a for a in stale.addresses
                                               if a.address != "10.0.0.21"),
                                         stale.routes, stale.rules)
    outcome = backend.configure(nic(1, 10, 21), nic(2, 20))
    assert backend.holding()["eth1"] == ["10.0.0.10"]
    assert "10.0.0.21 still on eth2" in outcome.errors[1]


def test_while_a_nics_metadata_is_missing_no_address_leaves_the_others():
    """10.0.0.11 leaves eth1: removed from the cloud, or moved to eth2, whose data failed?
    Unknown, so it stays until a run sees all; what arrives is added meanwhile."""
    backend = started(nic(1, 10, 11), nic(2, 20, 21))
    outcome = backend.configure(nic(1, 10, 12), nic(2, error="HTTP 500"))
    assert backend.holding()["eth1"] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert "HTTP 500" in outcome.errors[0]
    # The next run that sees every NIC moves it.
    assert backend.configure(nic(1, 10, 12), nic(2, 20, 21, 11)).ok
    assert not backend.violations
    assert backend.holding() == {"eth1": ["10.0.0.10", "10.0.0.12"],
                                 "eth2": ["10.0.0.11", "10.0.0.20", "10.0.0.21"]}


class WithOurProfile(Recording):
    """eth1's profile is one this tool made: manual addressing, never an empty address
    list (NetworkManager refuses one)."""

    def current(self, device):
        current = super().current(device)
        return dataclasses.replace(current, ours=device.ifname == "eth1")

    def apply(self, device, current, wanted) -> None:
        if current.ours and not wanted.addresses:
            self.violations.append(f"{device.ifname}: manual profile without an address")
        self.given.append((device.ifname, sorted(delta.held(wanted))))
        super().apply(device, current, wanted)


def test_a_profile_of_ours_losing_all_its_addresses_gets_the_new_ones_at_once():
    backend = WithOurProfile()
    backend.given = []
    backend.applied["eth1"] = layout.desired(nic(1, 10), Ipv4Config(), False)
    backend.applied["eth2"] = layout.desired(nic(2, 20, 21), Ipv4Config(), False)
    outcome = backend.configure(nic(1, 12, 21), nic(2, 20))
    assert outcome.ok and not backend.violations
    # Phase 1: eth1 gives up 10.0.0.10 and takes 10.0.0.12 at once, but not 10.0.0.21,
    # which eth2 still holds; eth2 lets go of it; phase 2: eth1 gets it.
    assert backend.given == [("eth1", ["10.0.0.12"]), ("eth2", ["10.0.0.20"]),
                             ("eth1", ["10.0.0.12", "10.0.0.21"])]
    assert backend.holding() == {"eth1": ["10.0.0.12", "10.0.0.21"], "eth2": ["10.0.0.20"]}
