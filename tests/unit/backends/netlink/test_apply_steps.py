"""The netlink backend's change of one device as batches: the steps in their order
(the MTU, removals, then additions), one batch each, and a step that fails stops the
steps after it."""

from __future__ import annotations

import pytest

from nm_cloud_setup.backends.netlink import backend as netlink_backend
from nm_cloud_setup.backends.netlink.ownership import Record
from nm_cloud_setup.errors import ApplyError
from nm_cloud_setup.model import Address, Current, Device, IpConfig, Route, Rule
from nm_cloud_setup.planning.delta import Diff

DIFF = Diff(add_addresses=(Address("10.0.1.11", 24), Address("10.0.1.12", 24)),
            remove_addresses=(Address("10.0.1.13", 24), Address("fd00::13", 64)),
            add_routes=(Route("0.0.0.0", 0, "10.0.1.1", table=30200),),
            remove_routes=(Route("0.0.0.0", 0, "10.0.1.1", table=30300),),
            add_rules=(Rule(30400, 30200, "10.0.1.11", 32),),
            remove_rules=(Rule(30400, 30300, "10.0.1.13", 32),))


class Kernel:
    """Records each batch as (kind, command) pairs; ``fails`` the (kind, command) of a
    step whose first entry fails."""

    def __init__(self, fails=None):
        self.fails = fails
        self.batches = []

    def apply(self, changes):
        self.batches.append([(kind, command) for kind, command, _, _ in changes])
        if (changes[0][0], changes[0][1]) == self.fails:
            return len(changes) - 1, ApplyError("netlink failed: the first entry")
        return len(changes), None

    def addresses(self):
        return {}

    def routes(self, proto):
        return {}

    def rules(self):
        return []

    def close(self):
        pass


def backend(tmp_path, monkeypatch, kernel):
    monkeypatch.setattr(netlink_backend, "promote_secondaries", lambda ifname: None)
    netlink = netlink_backend.Netlink(tmp_path)
    netlink.close()
    netlink._kernel = kernel
    netlink._changes = lambda current, wanted: (DIFF, Record())
    return netlink


DEVICE = Device(mac="02:00:00:00:00:09", ifname="eth9", handle="9")
CURRENT = Current(label='"eth9"', own=IpConfig(), applied=IpConfig(mtu=1500), token=9)


def test_each_step_is_one_batch_removals_first(tmp_path, monkeypatch):
    kernel = Kernel()
    netlink = backend(tmp_path, monkeypatch, kernel)
    netlink.apply(DEVICE, CURRENT, IpConfig(mtu=9001))
    assert kernel.batches == [
        [("link", "set")], [("rule", "del")], [("route", "del")], [("addr", "del")] * 2,
        [("addr", "add")] * 2, [("route", "add")], [("rule", "add")]]
    assert netlink.changes == 9


@pytest.mark.parametrize("fails, sent", [(("route", "del"), 3), (("addr", "add"), 5)])
def test_a_step_that_fails_stops_the_steps_after_it(tmp_path, monkeypatch, fails, sent):
    kernel = Kernel(fails=fails)
    netlink = backend(tmp_path, monkeypatch, kernel)
    with pytest.raises(ApplyError, match="the first entry"):
        netlink.apply(DEVICE, CURRENT, IpConfig(mtu=9001))
    assert len(kernel.batches) == sent
    assert kernel.batches[-1][0] == fails
