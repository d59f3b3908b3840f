"""The MTU (planning/mtu.py): the cloud's, capped; what this tool set, undone; nobody
else's touched."""

from __future__ import annotations

import pytest

from nm_cloud_setup.model import Current, InstanceData, InterfaceData, IpConfig, VirtualLink
from nm_cloud_setup.planning import layout, mtu
from nm_cloud_setup.planning.planner import Planner

MAC = "42:01:0A:80:00:02"


@pytest.mark.parametrize("cloud, own, applied, ours, set_before, expected", [
    (1460, None, 1500, False, None, 1460),    # the cloud's
    (1500, None, 1460, False, 1460, 1500),    # the cloud's changed
    (1460, 9000, 9000, False, None, 1460),    # the cloud's over the profile's
    (None, None, 1460, False, 1460, None),    # gone: what this tool set goes back
    (None, 9000, 1460, False, 1460, 9000),    # ... to the profile's own
    (None, None, 1400, False, 1460, 1400),    # changed by another since: left
    (None, None, 1400, False, None, 1400),    # never this tool's: left
    (None, 1500, 1400, False, None, 1400),    # another's runtime change: left
    (None, 1450, 1450, True, None, 1450),     # a profile this tool made: its own
    (None, None, None, False, None, None),    # nothing applied yet
])
def test_wanted(cloud, own, applied, ours, set_before, expected):
    assert mtu.wanted(cloud, own, applied, ours, set_before) == expected


@pytest.mark.parametrize("wanted, own, applied, set_before, expected", [
    (1460, None, 1500, None, 1460),   # changed by this tool: recorded
    (1460, None, 1460, None, None),   # already there (DHCP's): never this tool's
    (1460, None, 1460, 1460, 1460),   # still this tool's
    (1500, None, 1460, 1460, 1500),   # changed again
    (None, None, 1460, 1460, None),   # back to the profile's: forgotten
    (9000, 9000, 1460, 1460, None),   # the profile's own value: the profile's
    (1400, None, 1400, 1460, None),   # another's now
])
def test_recorded(wanted, own, applied, set_before, expected):
    assert mtu.recorded(wanted, own, applied, set_before) == expected


def _instance(*nics: InterfaceData) -> InstanceData:
    return InstanceData("GCP", nics)


def test_limited_caps_and_switches_off():
    vlan = VirtualLink("vlan", "eth0.5", parent_mac=MAC, parent_mtu=9000, vlan_id=5)
    nics = (InterfaceData(MAC, 0, mtu=8896), InterfaceData("42:01:0A:80:00:03", 1, mtu=1460),
            InterfaceData("42:01:0A:80:00:04", 2), InterfaceData("FA:16:3E:00:00:05", 3,
                                                                  mtu=9000, link=vlan))
    instance = _instance(*nics)
    assert mtu.limited(instance) is instance
    capped = mtu.limited(instance, cap=8500)
    assert [i.mtu for i in capped.interfaces] == [8500, 1460, None, 8500]
    assert capped.interfaces[3].link.parent_mtu == 8500
    off = mtu.limited(instance, enabled=False)
    assert [i.mtu for i in off.interfaces] == [None] * 4
    assert off.interfaces[3].link.parent_mtu is None


def _current(applied_mtu, own_mtu=None, set_before=None, ours=False) -> Current:
    return Current('"eth0"', IpConfig(mtu=own_mtu), IpConfig(mtu=applied_mtu), ours=ours,
                   mtu_set=set_before)


def test_the_planner_carries_the_mtu():
    iface = InterfaceData(MAC, 0, mtu=1460, local_routes=("35.10.0.1/32",))
    plan = Planner.for_instance(_instance(iface))
    assert plan(iface, _current(1500)).mtu == 1460
    silent = InterfaceData(MAC, 0, local_routes=("35.10.0.1/32",))
    assert plan(silent, _current(1460, set_before=1460)).mtu is None
    assert plan(silent, _current(1460, own_mtu=9000, set_before=1460)).mtu == 9000
    assert plan(silent, _current(1400, set_before=1460)).mtu == 1400
    assert layout.desired(silent, IpConfig(mtu=1500), True).mtu == 1500
