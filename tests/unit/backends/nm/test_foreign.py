"""Which Reapplies can drop another program's entries, and what NetworkManager holds of a
device across one: the NetworkManager side of the guard, without a daemon."""

from __future__ import annotations

import pytest

from nm_cloud_setup.backends.nm import foreign
from nm_cloud_setup.backends.nm.settings import Value


def routes(*items):
    return Value("aa{sv}", [{"dest": Value("s", d), "prefix": Value("u", p),
                             **({"table": Value("u", t)} if t else {})} for d, p, t in items])


def connection(ipv6_method, addresses=("10.0.1.10",), route_data=(), gateway=None):
    settings = {"ipv4": {"method": Value("s", "manual"), "address-data": Value("aa{sv}", [
        {"address": Value("s", a), "prefix": Value("u", 24)} for a in addresses]),
        "route-data": routes(*route_data)},
        "ipv6": {"method": Value("s", ipv6_method)}}
    if gateway:
        settings["ipv4"]["gateway"] = Value("s", gateway)
    return settings


@pytest.mark.parametrize("method, flags, expected", [
    ("auto", 1, True), ("manual", 1, True), ("dhcp", 1, True),  # the IPv6 bounce
    ("link-local", 1, True),
    ("ignore", 1, False), ("disabled", 1, False),
    ("ignore", 0, True),  # without preserve-external-ip: IPv4 ones go
])
def test_a_reapply_drops_others_entries_when_ipv6_bounces_or_without_the_flag(
        method, flags, expected):
    assert foreign.drops(connection(method), flags) is expected


def test_a_connection_without_ipv6_does_not_bounce():
    settings = connection("auto")
    del settings["ipv6"]
    assert not foreign.drops(settings, 1)


def test_networkmanagers_own_spans_the_connection_before_and_after_and_its_dhcp():
    """An address the Reapply removes is NetworkManager's to remove; one it adds is its
    own from now on; the DHCP lease and the gateway's default route are its own too."""
    before = connection("auto", ("10.0.1.10", "10.0.1.11"), [("10.0.1.0", 24, 30200)],
                        gateway="10.0.1.1")
    after = connection("auto", ("10.0.1.10", "10.0.1.12"), [("0.0.0.0", 0, 30400),
                                                            ("10.9.0.0", 16, None)])
    addresses, owned_routes, gateways = foreign.owned(before, after, ["10.0.1.5"])
    assert addresses == {"10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.5"}
    assert owned_routes == {(30200, "10.0.1.0", 24), (30400, "0.0.0.0", 0),
                            (254, "10.9.0.0", 16)}
    assert gateways == {"10.0.1.1"}


class FakeKernel:
    """The kernel side as the guard sees it: what it was asked to remove."""

    def __init__(self):
        self.pruned = None

    def protect(self, ifname, addresses, routes, gateways):
        return []

    def finish(self):
        return []

    def prune(self, stale):
        self.pruned = stale
        return []


class NoDhcp(foreign.ForeignGuard):
    def _dhcp(self, device):
        return []


@pytest.mark.parametrize("flags, expected", [
    (0, {"eth1": {(30200, "10.0.1.0", 24, None)}}),  # the "reapply" commit forgets them
    (1, {}),  # preserve-external-ip: NetworkManager removes them itself
])
def test_routes_of_other_tables_a_reapply_takes_away_are_removed_after_the_run(flags,
                                                                               expected):
    from nm_cloud_setup.model import Device
    kernel = FakeKernel()
    guard = NoDhcp(bus=None, kernel=lambda: kernel)
    device = Device(mac="02:00:00:00:00:01", ifname="eth1", handle="/d/1")
    first = connection("auto", route_data=[("10.0.1.0", 24, 30200), ("10.0.2.0", 24, 30200),
                                           ("10.9.0.0", 16, None)])
    kept = connection("auto", route_data=[("10.0.2.0", 24, 30200)])
    final = connection("auto", route_data=[("10.0.2.0", 24, 30200), ("10.0.3.0", 24, 30200)])
    guard.protect(device, first, kept, flags)  # a move: take away first ...
    guard.protect(device, kept, final, flags)  # ... then give
    guard.finish()
    assert kernel.pruned == expected
