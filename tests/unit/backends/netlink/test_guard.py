"""The guard's decisions: what a Reapply dropped that is not NetworkManager's goes back,
and nothing else.  The event sequences are the kernel's, as recorded on NetworkManager
1.42 and 1.52 (docs/sharing.md, "Foreign entries")."""

from __future__ import annotations

import pytest

from nm_cloud_setup.backends.netlink.guard import (ADDR, PROTO_DHCP, PROTO_KERNEL, PROTO_RA,
                                                   PROTO_STATIC, ROUTE, Entry, Guard, Owned,
                                                   foreign, foreign_rules, left_in_place)
from nm_cloud_setup.model import Rule
from nm_cloud_setup.planning.tables import Tables

NM_PORT = 4242
ETH1 = 2
VIP4 = Entry(ADDR, ETH1, 4, ("172.31.16.200", 32))
VIP6 = Entry(ADDR, ETH1, 6, ("2600:1f18:aaaa:bb01::200", 128))
LL = Entry(ADDR, ETH1, 6, ("fe80::1", 64), link_local=True)
PRIMARY6 = Entry(ADDR, ETH1, 6, ("2600:1f18:aaaa:bb01::10", 128))
ROUTE4 = Entry(ROUTE, ETH1, 4, (254, "10.97.0.0", 16, None), proto=3, gateway="172.31.16.1")
ROUTE6 = Entry(ROUTE, ETH1, 6, (100, "2001:db8:99::", 48, 1024), proto=3,
               gateway="2600:1f18:aaaa:bb01::1")
LL_ROUTE = Entry(ROUTE, ETH1, 6, (254, "fe80::", 64, 1024), proto=PROTO_KERNEL, link_local=True)
OWNED = Owned(frozenset({"172.31.16.10", "172.31.16.11", "2600:1f18:aaaa:bb01::10"}),
              frozenset({(30400, "0.0.0.0", 0)}), frozenset({"172.31.16.1"}))


def guard(*entries: Entry, at: float = 0.0) -> Guard:
    result = Guard({NM_PORT})
    for entry in entries:
        result.seen(entry)
    result.protect(ETH1, OWNED, at)
    return result


def test_foreign_entries_are_told_apart_from_networkmanagers():
    assert guard(VIP4, VIP6, LL, PRIMARY6, ROUTE4).protect(ETH1, OWNED, 0) == [
        VIP4, VIP6, ROUTE4]


@pytest.mark.parametrize("entry", [
    Entry(ADDR, ETH1, 4, ("172.31.16.11", 20)),  # the connection's
    Entry(ADDR, ETH1, 6, ("2600:1f18:aaaa:bb01::55", 128), permanent=False),  # SLAAC
    LL,
    Entry(ROUTE, ETH1, 4, (30400, "0.0.0.0", 0, 10), proto=PROTO_STATIC, gateway="172.31.16.1"),
    Entry(ROUTE, ETH1, 4, (254, "0.0.0.0", 0, 100), proto=PROTO_STATIC, gateway="172.31.16.1"),
    Entry(ROUTE, ETH1, 4, (254, "0.0.0.0", 0, 100), proto=PROTO_DHCP, gateway="172.31.16.1"),
    Entry(ROUTE, ETH1, 6, (254, "2600:1f18:aaaa:bb01::", 64, 100), proto=PROTO_RA),
    Entry(ROUTE, ETH1, 4, (254, "172.31.16.0", 20, 100), proto=PROTO_KERNEL),
    Entry(ROUTE, ETH1, 4, (255, "172.31.16.200", 32, None), proto=PROTO_KERNEL),
])
def test_networkmanagers_own_and_dynamic_entries_are_not_foreign(entry):
    assert not foreign(entry, OWNED)


@pytest.mark.parametrize("entry", [
    VIP4, VIP6, ROUTE4, ROUTE6,
    # a static route NetworkManager's connection does not hold, and one in the tool's tables
    Entry(ROUTE, ETH1, 4, (254, "10.50.0.0", 16, None), proto=PROTO_STATIC),
    Entry(ROUTE, ETH1, 4, (30401, "10.96.0.0", 16, None), proto=3),
])
def test_another_programs_entries_are_foreign(entry):
    assert foreign(entry, OWNED)


def test_an_ipv4_entry_networkmanager_deletes_goes_back_at_once():
    g = guard(VIP4, ROUTE4)
    assert g.gone(VIP4, NM_PORT, 0.1) == [VIP4]
    assert g.gone(ROUTE4, NM_PORT, 0.1) == [ROUTE4]
    assert g.missing(VIP4)


def test_what_networkmanager_held_at_an_earlier_reapply_of_the_run_does_not_go_back():
    """A subnet resized: the first Reapply takes the old subnet route away, and
    NetworkManager may delete it only during the second (the soak found it put back)."""
    old_subnet = Entry(ROUTE, ETH1, 4, (30200, "172.31.16.0", 20, 10), proto=PROTO_STATIC)
    g = guard(VIP4, old_subnet)
    g.protect(ETH1, Owned(OWNED.addresses, OWNED.routes | {(30200, "172.31.16.0", 20)},
                          OWNED.gateways), 0.0)
    assert g.protect(ETH1, OWNED, 0.2) == [VIP4]  # the second: the route is gone from it
    assert g.gone(old_subnet, NM_PORT, 0.3) == []
    assert g.gone(VIP4, NM_PORT, 0.3) == [VIP4]


def test_an_ipv4_entry_its_owner_deletes_stays_deleted():
    """keepalived failing over: its own netlink port asked, not NetworkManager's."""
    g = guard(VIP4)
    assert g.gone(VIP4, 9999, 0.1) == []


def test_what_the_ipv6_bounce_takes_goes_back_with_routes_after_addresses():
    """The kernel's order, in one unbroken run asked by no port: the device's routes (the
    foreign ones first here), the link-local prefix route, its addresses, the link-local
    one last."""
    g = guard(VIP6, ROUTE6, LL, LL_ROUTE, PRIMARY6)
    assert g.gone(ROUTE6, 0, 1.0) == []  # held: is it the bounce?
    assert g.gone(LL_ROUTE, 0, 1.0) == [ROUTE6]  # the bounce
    assert g.gone(VIP6, 0, 1.0) == [VIP6]
    assert g.gone(PRIMARY6, 0, 1.0) == []  # NetworkManager's: it adds it back
    assert g.gone(LL, 0, 1.0) == []


def test_an_ipv6_address_its_owner_deletes_stays_deleted_even_right_before_a_bounce():
    """keepalived's deletion is its own run (an address, then its local route): the
    bounce's run starts with routes, so it cannot hold an address deleted before it."""
    g = guard(VIP6, LL, LL_ROUTE)
    assert g.gone(VIP6, 0, 1.0) == []
    assert g.gone(LL_ROUTE, 0, 1.0) == []
    assert g.gone(LL, 0, 1.0) == []


def test_an_ipv6_route_deleted_apart_from_a_bounce_stays_deleted():
    """Any other event between an owner's deletion and the bounce shows they are two."""
    g = guard(ROUTE6, LL_ROUTE, VIP4)
    assert g.gone(ROUTE6, 0, 1.0) == []
    g.added(VIP4)
    assert g.gone(LL_ROUTE, 0, 1.0) == []
    g = guard(ROUTE6, LL_ROUTE, VIP4)
    assert g.gone(ROUTE6, 0, 1.0) == []
    assert g.gone(VIP4, 9999, 1.0) == []
    assert g.gone(LL_ROUTE, 0, 1.0) == []


def test_an_ipv6_deletion_after_networkmanagers_link_local_address_is_back_is_its_owners():
    g = guard(VIP6, LL, LL_ROUTE, PRIMARY6)
    g.gone(LL_ROUTE, 0, 1.0)
    g.gone(LL, 0, 1.0)  # the bounce's last deletion
    g.added(LL)  # NetworkManager's commit after the bounce
    g.added(VIP6)  # put back
    assert g.gone(VIP6, 0, 1.01) == []


def test_what_networkmanager_deletes_again_after_the_bounce_goes_back_again():
    """Recorded on 1.42 (keepalived's virtual IP): the bounce takes it, it is put back,
    then NetworkManager's commit deletes it (it is not its own) before adding its
    link-local address.  The deletion names no port; until the link-local address is
    back, it is NetworkManager's."""
    g = guard(VIP6, LL, LL_ROUTE, VIP4)
    g.gone(LL_ROUTE, 0, 1.0)
    assert g.gone(VIP6, 0, 1.0) == [VIP6]
    g.gone(LL, 0, 1.0)
    assert g.gone(VIP4, NM_PORT, 1.001) == [VIP4]
    g.added(VIP6)  # put back
    assert g.gone(VIP6, 0, 1.002) == [VIP6]
    g.added(VIP6)
    g.added(LL)
    assert g.gone(VIP6, 0, 1.003) == []


def test_the_wait_for_networkmanagers_link_local_address_is_bounded():
    g = guard(VIP6, LL, LL_ROUTE)
    g.gone(LL_ROUTE, 0, 1.0)
    g.gone(LL, 0, 1.0)
    g.added(VIP6)
    assert g.gone(VIP6, 0, 2.0) == []


def test_an_ipv6_route_networkmanager_deletes_goes_back():
    """IPv6 route deletions name the port that asked, as IPv4 ones do."""
    g = guard(ROUTE6)
    assert g.gone(ROUTE6, NM_PORT, 1.0) == [ROUTE6]


def test_nothing_deleted_before_the_reapply_or_on_another_device_goes_back():
    g = guard(VIP4, at=5.0)
    assert g.gone(VIP4, NM_PORT, 4.9) == []
    other = Entry(ADDR, 3, 4, ("172.31.32.200", 32))
    g.seen(other)
    assert g.gone(other, NM_PORT, 5.1) == []


def test_an_entry_back_already_is_not_missing():
    g = guard(VIP4)
    g.gone(VIP4, NM_PORT, 0.1)
    g.added(VIP4)
    assert not g.missing(VIP4)


def test_a_second_reapply_of_the_device_bounces_anew():
    g = guard(VIP6, LL, LL_ROUTE)
    g.gone(LL_ROUTE, 0, 1.0)
    g.gone(LL, 0, 1.0)
    for entry in (LL_ROUTE, LL):
        g.added(entry)
    assert g.gone(VIP6, 0, 3.0) == []  # an owner's
    g.added(VIP6)
    assert g.gone(LL_ROUTE, 0, 4.0) == []
    assert g.gone(VIP6, 0, 4.0) == [VIP6]


def test_status_lists_another_programs_entries_and_marks_those_in_the_tools_tables():
    in_range = Entry(ROUTE, ETH1, 4, (30401, "10.96.0.0", 16, None), proto=3)
    primary = Entry(ADDR, ETH1, 4, ("172.31.16.10", 20))
    other_nic = Entry(ADDR, 3, 4, ("172.31.32.200", 32))
    found = left_in_place([VIP4, ROUTE4, in_range, primary, other_nic, LL], ETH1, OWNED,
                          Tables())
    assert found == ["address 172.31.16.200/32",
                     "route 10.97.0.0/16 via 172.31.16.1 table 254",
                     "route 10.96.0.0/16 table 30401 (in this tool's tables)"]


def test_rules_in_the_tools_priorities_that_are_not_the_runs_are_listed():
    ours = Rule(30200, 30200, "172.31.16.11", 32)
    suppress = Rule(30350, 254, suppress_prefixlength=0)
    theirs = Rule(30250, 100, "10.95.0.0", 16)
    elsewhere = Rule(100, 100, "10.98.0.0", 16)
    assert foreign_rules([ours, suppress, theirs, elsewhere], [ours, suppress], Tables()) == [
        "rule priority 30250 from 10.95.0.0/16 table 100 (in this tool's subnet rules)"]


def test_a_descriptor_closed_while_netlink_ports_are_read_is_skipped(monkeypatch):
    """NetworkManager closes descriptors all the time: one listed and gone before it is
    read must not turn the guard off for the run (the soak lost virtual IPs so)."""
    import os

    from nm_cloud_setup.backends.netlink import for_nm
    real = os.readlink
    calls = []

    def flaky(path):
        calls.append(path)
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real(path)

    monkeypatch.setattr(for_nm.os, "readlink", flaky)
    assert os.getpid() in for_nm.nm_ports(os.getpid())
    assert len(calls) > 1


def test_a_bounce_is_under_way_until_the_link_local_address_is_back():
    """The run's end waits for it: NetworkManager's IPv4 deletions come with the bounce's
    second burst (its addresses, about 0.17 s after its routes, recorded on 1.42), and a
    guard that stopped listening in between would miss them."""
    g = guard(VIP6, VIP4, LL, LL_ROUTE)
    assert not g.bouncing()
    g.gone(LL_ROUTE, 0, 1.0)  # the first burst: the routes
    assert g.bouncing()
    g.gone(VIP6, 0, 1.17)
    g.gone(LL, 0, 1.17)
    assert g.bouncing()
    assert g.gone(VIP4, NM_PORT, 1.171) == [VIP4]
    g.added(LL)
    assert not g.bouncing()
