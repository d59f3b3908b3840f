"""The layout upstream configures (planning/layout.py): tables, rules and routes per NIC
and family, deduplication against the profile, and stability properties."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.model import (Address, InstanceData, InterfaceData, Ipv4Config, Network, Route,
                                  Rule)
from nm_cloud_setup.planning import delta, layout, tables
from tests.support.interfaces import dual, iface


def test_upstream_layout_for_one_nic():
    config = layout.cloud_entries(iface(index=1))
    assert config.addresses == (Address("10.0.1.10", 24), Address("10.0.1.11", 24))
    assert set(config.routes) == {
        Route("10.0.1.0", 24, metric=10, table=30201),
        Route("0.0.0.0", 0, next_hop="10.0.1.1", metric=10, table=30401),
    }
    assert set(config.rules) == {
        Rule(30201, 30201, "10.0.1.10", 32), Rule(30201, 30201, "10.0.1.11", 32),
        Rule(30350, 254, suppress_prefixlength=0),
        Rule(30401, 30401, "10.0.1.10", 32), Rule(30401, 30401, "10.0.1.11", 32),
    }


ANCHOR = Network("10.17.0.0/16", ("10.17.0.5",), "10.17.0.1")


def test_a_further_subnet_gets_its_own_default_table_and_rules():
    """DigitalOcean's anchor: the public address leaves via the public gateway, the
    anchor address via the anchor gateway; both subnets route in table 30200+IDX."""
    config = layout.cloud_entries(iface(index=2, addresses=("203.0.113.20",),
                                      subnet="203.0.113.0/24", gateway="203.0.113.1",
                                      extra_networks=(ANCHOR,)))
    assert config.addresses == (Address("203.0.113.20", 24), Address("10.17.0.5", 16))
    assert set(config.routes) == {
        Route("203.0.113.0", 24, metric=10, table=30202),
        Route("10.17.0.0", 16, metric=10, table=30202),
        Route("0.0.0.0", 0, next_hop="203.0.113.1", metric=10, table=30402),
        Route("0.0.0.0", 0, next_hop="10.17.0.1", metric=10, table=30502),
    }
    assert set(config.rules) == {
        Rule(30202, 30202, "203.0.113.20", 32), Rule(30202, 30202, "10.17.0.5", 32),
        Rule(30350, 254, suppress_prefixlength=0),
        Rule(30402, 30402, "203.0.113.20", 32),
        Rule(30502, 30502, "10.17.0.5", 32),
    }


def test_further_subnets_number_their_tables_and_have_a_bound():
    nets = tuple(Network(f"10.{20 + k}.0.0/16", (f"10.{20 + k}.0.5",)) for k in range(7))
    config = layout.cloud_entries(iface(index=3, extra_networks=nets))
    defaults = sorted((r.table, r.next_hop) for r in config.routes if r.prefix == 0)
    assert defaults == [(30403, "10.0.1.1"), (30503, "10.20.0.1"), (30603, "10.21.0.1"),
                        (30703, "10.22.0.1"), (30803, "10.23.0.1"), (30903, "10.24.0.1")]
    assert len(config.addresses) == 2 + layout.MAX_EXTRA_NETWORKS


def test_ipv6_further_networks_are_not_ipv4_layout():
    v6 = Network("2001:db8::/64", ("2001:db8::5",), "2001:db8::1")
    assert layout.cloud_entries(iface(extra_networks=(v6,))) == layout.cloud_entries(iface())


def test_an_anchor_makes_a_single_nic_multi_address():
    one = iface(addresses=("203.0.113.20",), subnet="203.0.113.0/24")
    assert layout.is_single_address(InstanceData("digitalocean", (one,)))
    anchored = InterfaceData(one.mac, 0, one.addresses, one.subnet, extra_networks=(ANCHOR,))
    assert not layout.is_single_address(InstanceData("digitalocean", (anchored,)))


@pytest.mark.parametrize("subnet, gateway, expected", [
    ("10.0.1.0/24", None, "10.0.1.1"),
    ("172.31.16.0/20", None, "172.31.16.1"),
    ("10.0.0.0/8", None, "10.0.0.1"),
    ("192.168.5.0/24", "192.168.5.253", "192.168.5.253"),  # Aliyun, OCI: from metadata
    ("10.0.1.7/32", None, "10.0.1.7"),  # as upstream: a /32's own address
])
def test_gateway(subnet, gateway, expected):
    net = ipaddress.ip_network(subnet)
    data = iface(addresses=(str(net[min(10, net.num_addresses - 1)]),), subnet=subnet,
                 gateway=gateway)
    assert layout.gateway_of(data) == expected


def test_an_address_outside_the_subnet_gets_the_prefix_and_a_route_for_its_own_subnet():
    """Upstream's rule: each distinct subnet of the addresses (with the NIC's prefix) gets
    a route in table 30200+IDX; the gateway stays the listed subnet's first host."""
    config = layout.cloud_entries(iface(addresses=("172.31.160.10", "172.31.176.249",
                                                 "172.31.160.11"), subnet="172.31.160.0/20"))
    assert Address("172.31.176.249", 20) in config.addresses
    assert [r for r in config.routes if r.table == 30200] == [
        Route("172.31.160.0", 20, metric=10, table=30200),
        Route("172.31.176.0", 20, metric=10, table=30200)]
    assert Route("0.0.0.0", 0, next_hop="172.31.160.1", metric=10, table=30400) in config.routes
    assert Rule(30400, 30400, "172.31.176.249", 32) in config.rules


def test_forwarded_ips_become_local_routes():
    config = layout.cloud_entries(iface(local_routes=("35.1.2.3/32", "10.9.0.0/24")))
    assert Route("35.1.2.3", 32, metric=100, type="local") in config.routes
    assert Route("10.9.0.0", 24, metric=100, type="local") in config.routes


def test_failed_interface_adds_nothing():
    failed = InterfaceData("02:00:00:00:00:01", 0, error="HTTP 500")
    assert layout.cloud_entries(failed) == Ipv4Config()


@pytest.mark.parametrize("interfaces, single", [
    ([iface(addresses=("10.0.1.10",))], True),
    ([iface()], False),
    ([iface(addresses=("10.0.1.10",)), iface(1, ("10.0.2.10",), "10.0.2.0/24")], False),
    ([iface(addresses=("10.0.1.10",)), InterfaceData("02:00:00:00:00:02", 1, error="x")], True),
    ([], True),
])
def test_single_address(interfaces, single):
    assert layout.is_single_address(InstanceData("ec2", tuple(interfaces))) is single


def test_a_listed_nic_that_is_not_local_counts_as_a_nic():
    """Upstream fetches every listed NIC and counts it: one local NIC with one address
    next to a foreign one still gets its tables."""
    instance = InstanceData("ec2", (iface(addresses=("10.0.1.10",)),),
                            unmatched=("02:00:00:00:00:09",))
    assert not layout.is_single_address(instance)


def test_single_address_keeps_the_profile_as_it_is():
    own = Ipv4Config((Address("10.0.1.10", 24),))
    assert layout.desired(iface(addresses=("10.0.1.10",)), own, single_address=True) == own


def test_profile_entries_come_first_and_duplicates_are_dropped():
    own = Ipv4Config(
        addresses=(Address("10.0.1.10", 24), Address("192.0.2.7", 28)),
        routes=(Route("198.51.100.0", 24, next_hop="10.0.1.254"),),
        rules=(Rule(100, 200, "192.0.2.7", 32), Rule(30350, 254, suppress_prefixlength=0)),
    )
    wanted = layout.desired(iface(), own, single_address=False)
    assert wanted.addresses == (Address("10.0.1.10", 24), Address("192.0.2.7", 28),
                                Address("10.0.1.11", 24))
    assert wanted.routes[0] == own.routes[0]
    assert wanted.rules[:2] == own.rules
    assert len(wanted.rules) == len(set(wanted.rules)) == 6


# -- properties ----------------------------------------------------------------

@st.composite
def interfaces(draw):
    prefix = draw(st.integers(8, 28))
    base = draw(st.integers(0x0A000000, 0x0AFFFFFF))
    net = ipaddress.IPv4Network((base, prefix), strict=False)
    hosts = draw(st.lists(st.integers(1, min(net.num_addresses - 2, 500)), min_size=1,
                          max_size=8, unique=True))
    extra = draw(st.lists(st.integers(0x0B000000, 0x0BFFFFFF), max_size=6, unique=True))
    networks = tuple(Network(f"{ipaddress.IPv4Address(n & 0xFFFFFF00)}/24",
                             (str(ipaddress.IPv4Address((n & 0xFFFFFF00) + 5)),)) for n in extra)
    return InterfaceData("02:00:00:00:00:01", draw(st.integers(0, tables.MAX_INTERFACES - 1)),
                         tuple(str(net.network_address + h) for h in hosts), str(net),
                         extra_networks=tuple(dict.fromkeys(networks)))


own_configs = st.builds(
    Ipv4Config,
    addresses=st.lists(st.builds(Address, st.sampled_from(["192.0.2.1", "192.0.2.2", "10.0.0.5"]),
                                 st.integers(8, 32)), max_size=3).map(tuple),
    routes=st.lists(st.builds(Route, st.sampled_from(["198.51.100.0", "0.0.0.0"]),
                              st.integers(0, 32), metric=st.none() | st.integers(0, 500)),
                    max_size=3).map(tuple),
    rules=st.lists(st.builds(Rule, st.integers(1, 32000), st.integers(1, 1000)),
                   max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(interfaces(), own_configs, st.booleans())
def test_planning_over_the_result_changes_nothing(data, own, single):
    first = layout.desired(data, own, single)
    # Once applied, a rerun plans the same thing: nothing to reapply.
    assert layout.desired(data, own, single).same_as(first)
    # Even if the applied result were saved into the profile, it is a fixed point.
    again = layout.desired(data, first, single)
    assert again.same_as(first)
    assert not delta.diff(first, again)


@settings(max_examples=200, deadline=None)
@given(interfaces(), own_configs, st.booleans())
def test_profile_entries_always_survive(data, own, single):
    wanted = layout.desired(data, own, single)
    assert {a.address for a in own.addresses} <= {a.address for a in wanted.addresses}
    assert set(own.routes) <= set(wanted.routes)
    assert set(own.rules) <= set(wanted.rules)


@settings(max_examples=200, deadline=None)
@given(interfaces())
def test_tables_and_priorities_stay_in_range(data):
    config = layout.cloud_entries(data)
    for rule in config.rules:
        assert 30200 <= rule.priority < 31000 and rule.priority != 30350 or rule.table == 254
        assert rule.table == 254 or not 30300 <= rule.table < 30400
    for route in config.routes:
        assert route.table is not None and 30200 <= route.table < 31000
        assert not 30300 <= route.table < 30400
    assert config.addresses[0].address == data.addresses[0]  # primary first
    assert len({a.address for a in config.addresses}) == len(config.addresses)


# -- IPv6 ------------------------------------------------------------------------


def test_ipv6_mirrors_the_ipv4_layout_with_the_same_tables_and_priorities():
    config = layout.cloud_entries(dual()).family(6)
    assert config.addresses == (Address("2600:1f18::10", 64), Address("2600:1f18::11", 64))
    assert set(config.routes) == {
        Route("2600:1f18::", 64, metric=10, table=30201),
        Route("::", 0, next_hop="2600:1f18::1", metric=10, table=30401),
    }
    assert set(config.rules) == {
        Rule(30201, 30201, "2600:1f18::10", 128, family=6),
        Rule(30201, 30201, "2600:1f18::11", 128, family=6),
        Rule(30350, 254, suppress_prefixlength=0, family=6),
        Rule(30401, 30401, "2600:1f18::10", 128, family=6),
        Rule(30401, 30401, "2600:1f18::11", 128, family=6),
    }


def test_ipv4_part_of_a_dual_stack_nic_is_unchanged():
    ipv4_only = layout.cloud_entries(iface(index=1, addresses=("10.0.1.10", "10.0.1.11")))
    assert layout.cloud_entries(dual()).family(4) == ipv4_only


@pytest.mark.parametrize("gateway, expected", [
    (None, "2600:1f18::1"),                          # EC2: the subnet's first host
    ("fe80::1234:5678:9abc", "fe80::1234:5678:9abc"),  # Azure's fixed link-local router
    ("2600:1f18::fffe", "2600:1f18::fffe"),          # OCI ipv6VirtualRouterIp, Aliyun
])
def test_ipv6_gateway(gateway, expected):
    assert layout.gateway6_of(dual(ipv6_gateway=gateway)) == expected


def test_ipv6_only_nic_gets_its_ipv6_layout_and_no_ipv4():
    config = layout.cloud_entries(dual(addresses=()))
    assert config.family(4) == Ipv4Config()
    assert len(config.addresses) == 2 and len(config.rules) == 5


@pytest.mark.parametrize("interfaces, single", [
    ([dual(ipv6=("2600:1f18::10",))], {6}),                # one NIC, one IPv6: DHCPv6 did it
    ([dual(ipv6=())], {6}),
    ([dual(addresses=("10.0.1.10",))], {4}),
    ([dual(addresses=("10.0.1.10",), ipv6=("2600:1f18::10",))], {4, 6}),
    ([dual(ipv6=("2600:1f18::10",)), dual(index=2, addresses=(), ipv6=("2600:1f18::20",))],
     set()),
])
def test_single_address_rule_holds_per_family(interfaces, single):
    assert layout.single_families(InstanceData("ec2", tuple(interfaces))) == single


def test_a_single_ipv6_family_is_left_alone_while_ipv4_is_configured():
    config = layout.cloud_entries(dual(ipv6=("2600:1f18::10",)), single_address={6})
    assert config.family(6) == Ipv4Config() and config.family(4).addresses


def test_a_family_left_off_keeps_exactly_what_is_applied():
    applied = Ipv4Config((Address("10.0.1.10", 24), Address("2001:db8::5", 64)),
                         (Route("2001:db8::", 48, next_hop="2001:db8::1"),),
                         (Rule(100, 200, "2001:db8::5", 128, family=6),))
    wanted = layout.desired(dual(), Ipv4Config(), False, families=(4,), applied=applied)
    assert wanted.family(6) == applied.family(6)
    assert wanted.family(4) == layout.cloud_entries(dual()).family(4)


def test_profile_ipv6_entries_survive_and_primary_comes_first():
    own = Ipv4Config((Address("2600:1f18::10", 64), Address("fd00::7", 64)),
                     rules=(Rule(500, 600, "fd00::7", 128, family=6),))
    wanted = layout.desired(dual(), own, False)
    assert wanted.family(6).addresses[:3] == (Address("2600:1f18::10", 64),
                                              Address("fd00::7", 64),
                                              Address("2600:1f18::11", 64))
    assert own.rules[0] in wanted.rules


def test_ipv6_local_routes_and_routes_by_family():
    data = dual(local_routes=("2600:1900:4000::/96", "35.1.2.3/32"),
                routes=(("2001:db8:99::/48", "2600:1f18::fe"), ("10.50.0.0/16", "10.0.1.254")))
    config = layout.cloud_entries(data)
    assert Route("2600:1900:4000::", 96, metric=100, type="local") in config.routes
    assert Route("2001:db8:99::", 48, next_hop="2600:1f18::fe", metric=10,
                 table=30401) in config.routes
    assert Route("10.50.0.0", 16, next_hop="10.0.1.254", metric=10, table=30401) in config.routes


@settings(max_examples=200, deadline=None)
@given(interfaces(), own_configs, st.sets(st.sampled_from([4, 6])), st.integers(0, 3))
def test_dual_stack_planning_is_a_fixed_point(data, own, single, count):
    data = InterfaceData(data.mac, data.index, data.addresses, data.subnet,
                         ipv6_addresses=tuple(f"2600:1f18::{k + 10:x}" for k in range(count)),
                         ipv6_subnet="2600:1f18::/64")
    first = layout.desired(data, own, single)
    again = layout.desired(data, first, single)
    assert again.same_as(first) and not delta.diff(first, again)


def test_delegated_prefixes_get_source_rules_to_the_nics_tables_both_families():
    iface = InterfaceData("02:00:00:00:00:02", 1, ("10.0.1.10",), "10.0.1.0/24",
                          ipv6_addresses=("2600:1f18::10",), ipv6_subnet="2600:1f18::/64",
                          delegated=("10.0.1.32/28", "2600:1f18:0:0:5::/80"),
                          delegated_addresses=("10.0.1.32", "2600:1f18:0:0:5::"))
    config = layout.cloud_entries(iface)
    assert {r for r in config.rules if r.from_len not in (32, 128) and r.from_addr} == {
        Rule(30201, 30201, "10.0.1.32", 28), Rule(30401, 30401, "10.0.1.32", 28),
        Rule(30201, 30201, "2600:1f18:0:0:5::", 80, family=6),
        Rule(30401, 30401, "2600:1f18:0:0:5::", 80, family=6)}
    assert Address("10.0.1.32", 32) in config.addresses
    assert Address("2600:1f18:0:0:5::", 128) in config.addresses


def test_a_single_address_nic_gets_its_prefix_address_but_no_rules():
    iface = InterfaceData("02:00:00:00:00:01", 0, ("10.0.1.10",), "10.0.1.0/24",
                          delegated=("10.0.1.32/28",), delegated_addresses=("10.0.1.32",))
    config = layout.cloud_entries(iface, single_address=True)
    assert config.addresses == (Address("10.0.1.32", 32),) and config.rules == ()


def test_the_clouds_mtu_wins_over_the_profiles_and_the_profiles_stays_without_one():
    own = Ipv4Config((Address("10.0.1.10", 24),), mtu=1500)
    jumbo = InterfaceData("02:00:00:00:00:01", 0, ("10.0.1.10",), "10.0.1.0/24", mtu=9001)
    assert layout.desired(jumbo, own, single_address=False).mtu == 9001
    silent = InterfaceData("02:00:00:00:00:01", 0, ("10.0.1.10",), "10.0.1.0/24")
    assert layout.desired(silent, own, single_address=False).mtu == 1500
    assert layout.desired(silent, Ipv4Config(), single_address=False).mtu is None


def test_static_base_of_a_static_ipv6_network_has_its_default_route():
    nic = InterfaceData("02:00:00:00:00:02", 1, (), None, ipv6_addresses=("2001:db8:1::10",),
                        ipv6_subnet="2001:db8:1::/64", ipv6_gateway="2001:db8:1::1",
                        routes=(("2001:db8:99::/48", "2001:db8:1::fe"),
                                ("10.50.0.0/16", "10.0.1.254")),
                        ipv6_method="manual", dns=("10.0.3.53", "2001:db8::53"))
    base = layout.static_base(nic)
    assert base.addresses == (Address("2001:db8:1::10", 64),)
    assert base.routes == (Route("::", 0, "2001:db8:1::1", metric=1025),
                           Route("2001:db8:99::", 48, "2001:db8:1::fe", metric=1025))
    assert base.dns == ("2001:db8::53",)  # no IPv4 network: no IPv4 name server


def test_the_name_servers_are_the_applied_ones_unless_the_profile_is_ours():
    nic = InterfaceData("02:00:00:00:00:01", 0, ("10.0.1.10",), "10.0.1.0/24")
    applied = Ipv4Config((Address("10.0.1.10", 24),), dns=("192.0.2.1",))
    own = Ipv4Config(dns=("10.0.1.53",))
    assert layout.desired(nic, own, False, applied=applied).dns == ("192.0.2.1",)
    assert layout.desired(nic, own, False, applied=applied, ours=True).dns == ("10.0.1.53",)
    assert layout.desired(nic, own, False).dns == ("10.0.1.53",)  # nothing applied yet


def test_static_base_of_a_dual_stack_nic_and_of_a_family_without_addresses():
    nic = InterfaceData("02:00:00:00:00:02", 1, ("10.0.1.10",), "10.0.1.0/24",
                        gateway="10.0.1.1", ipv6_addresses=("2001:db8:1::10",),
                        ipv6_subnet="2001:db8:1::/64", ipv6_gateway="2001:db8:1::1")
    base = layout.static_base(nic)
    assert base.addresses == (Address("10.0.1.10", 24), Address("2001:db8:1::10", 64))
    no_v6_address = InterfaceData("02:00:00:00:00:02", 1, ("10.0.1.10",), "10.0.1.0/24",
                                  gateway="10.0.1.1", ipv6_subnet="2001:db8:1::/64",
                                  ipv6_gateway="2001:db8:1::1")
    assert layout.static_base(no_v6_address).routes == (
        Route("0.0.0.0", 0, "10.0.1.1", metric=1025),)


def test_a_further_subnets_route_goes_to_the_subnet_table_of_the_nics_card():
    nic = InterfaceData("02:00:00:00:00:02", 1, ("10.0.1.10",), "10.0.1.0/24", card=1,
                        extra_networks=(Network("10.0.9.0/24", ("10.0.9.5",)),))
    moved = tables.Tables(extra=40500, extra_priority=20500)
    assert Route("10.0.9.0", 24, metric=10, table=31001) in layout.cloud_entries(nic).routes
    assert Route("0.0.0.0", 0, "10.0.9.1", metric=10, table=40501) in layout.cloud_entries(
        nic, tables=moved).routes
    first_card = layout.cloud_entries(dataclasses.replace(nic, card=0)).routes
    assert Route("10.0.9.0", 24, metric=10, table=30201) in first_card


def test_addresses_only_still_adds_every_further_subnets_addresses():
    nic = InterfaceData("02:00:00:00:00:02", 1, ("10.0.1.10",), "10.0.1.0/24",
                        extra_networks=(Network("10.0.8.0/24", ("10.0.8.5",)),
                                        Network("10.0.9.0/24", ("10.0.9.5",))))
    config = layout.cloud_entries(nic, tables=tables.Tables(routing=frozenset({6})))
    assert {a.address for a in config.addresses} >= {"10.0.8.5", "10.0.9.5"}
    assert not config.rules and not config.routes


def test_an_ipv4_only_nics_routes_go_to_its_default_table():
    nic = InterfaceData("02:00:00:00:00:02", 1, ("10.0.1.10", "10.0.1.11"), "10.0.1.0/24",
                        routes=(("10.50.0.0/16", "10.0.1.254"),))
    assert Route("10.50.0.0", 16, "10.0.1.254", metric=10, table=30401) in \
        layout.cloud_entries(nic).routes
