"""The steps between two configs (planning/delta.py): what changes, and what a device keeps
while entries move between devices."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.model import Address, Ipv4Config, Route, Rule
from nm_cloud_setup.planning import delta, layout
from tests.support.interfaces import iface


def test_diff():
    old = layout.cloud_entries(iface())
    new = layout.cloud_entries(iface(addresses=("10.0.1.10",)))
    change = delta.diff(old, new)
    assert change.remove_addresses == (Address("10.0.1.11", 24),)
    assert set(change.remove_rules) == {Rule(30200, 30200, "10.0.1.11", 32),
                                        Rule(30400, 30400, "10.0.1.11", 32)}
    assert not change.add_addresses and not change.add_routes and not change.remove_routes
    assert not delta.diff(new, new)


# -- moving entries between devices: the intermediate state ----------------------

A10, A11, A12, A13 = (Address(f"10.0.1.{h}", 24) for h in (10, 11, 12, 13))


def config(*addresses: Address, mtu=None) -> Ipv4Config:
    """Addresses with upstream's rules and routes for them (table index 0)."""
    data = iface(addresses=tuple(a.address for a in addresses),
                 subnet=str(ipaddress.ip_interface(str(addresses[0])).network) if addresses
                 else None)
    entries = layout.cloud_entries(data) if addresses else Ipv4Config()
    return Ipv4Config(addresses, entries.routes, entries.rules, mtu)


@pytest.mark.parametrize("current, wanted, kept, loses, gains", [
    # nothing applied yet (a first run): nothing kept, all arrives
    (Ipv4Config(), config(A10, A11), Ipv4Config(), False, True),
    # only removals: the intermediate is the wanted state itself
    (config(A10, A11, A12), config(A10, A11), config(A10, A11), True, False),
    # only additions: the intermediate is what is there
    (config(A10, A11), config(A10, A11, A12), config(A10, A11), False, True),
    # one leaves, one arrives: A12 and its rules go first, A13 comes later
    (config(A10, A11, A12), config(A10, A11, A13), config(A10, A11), True, True),
    # the primary stays first, whatever order the device had
    (Ipv4Config((A11, A10)), Ipv4Config((A10, A11, A13)), Ipv4Config((A10, A11)), False, True),
    # a changed prefix is a removal and an addition of the same address (its rules stay)
    (config(A10, A11), config(Address("10.0.1.10", 22), Address("10.0.1.11", 22)),
     Ipv4Config(rules=config(A10, A11).rules), True, True),
    # the MTU is not an entry: wanted's, neither lost nor gained
    (config(A10, A11, mtu=1500), config(A10, A11, mtu=9001), config(A10, A11, mtu=9001),
     False, False),
    (Ipv4Config(), Ipv4Config(), Ipv4Config(), False, False),
])
def test_kept(current, wanted, kept, loses, gains):
    assert delta.kept(current, wanted) == kept
    assert delta.loses(current, wanted) is loses
    assert delta.gains(current, wanted) is gains


def test_kept_keeps_the_profile_and_the_shared_rule():
    own = Ipv4Config(routes=(Route("198.51.100.0", 24, next_hop="10.0.1.254"),),
                     rules=(Rule(100, 200, "192.0.2.7", 32),))
    current = layout.desired(iface(addresses=("10.0.1.10", "10.0.1.11")), own, False)
    wanted = layout.desired(iface(addresses=("10.0.1.10", "10.0.1.12")), own, False)
    kept = delta.kept(current, wanted)
    assert own.routes[0] in kept.routes and own.rules[0] in kept.rules
    assert Rule(30350, 254, suppress_prefixlength=0) in kept.rules
    assert {a.address for a in kept.addresses} == {"10.0.1.10"}
    assert not {r.from_addr for r in kept.rules} & {"10.0.1.11", "10.0.1.12"}


def test_withheld_drops_the_address_and_its_rules_only():
    wanted = config(A10, A11, A12)
    result = delta.withheld(wanted, {"10.0.1.12"})
    assert result.addresses == (A10, A11)
    assert result.routes == wanted.routes
    assert set(result.rules) == {r for r in wanted.rules if r.from_addr != "10.0.1.12"}
    assert delta.withheld(wanted, ()) is wanted
    assert delta.held(result) == ["10.0.1.10", "10.0.1.11"]
    rules_only = Ipv4Config(rules=(Rule(30200, 30200, "10.0.1.12", 32),
                                   Rule(30350, 254, suppress_prefixlength=0)))
    assert delta.held(rules_only) == [] and delta.claimed(rules_only) == ["10.0.1.12"]


def test_departing_is_the_addresses_that_go_with_their_rules():
    current, wanted = config(A10, A11, A12), config(A10, A11)
    gone = delta.departing(current, wanted)
    assert gone.addresses == (A12,) and gone.routes == ()
    assert {r.from_addr for r in gone.rules} == {"10.0.1.12"} and len(gone.rules) == 2
    assert delta.merged(wanted, gone).same_as(current)
    assert delta.departing(wanted, current) == Ipv4Config()


HOSTS = [f"10.0.1.{h}" for h in range(10, 16)] + [f"fd00::{h}" for h in range(10, 14)]

entry_pools = st.builds(  # both families side by side, as IpConfig holds them
    lambda addresses, routes, rules, mtu: Ipv4Config(tuple(addresses), tuple(routes),
                                                     tuple(rules), mtu),
    st.lists(st.sampled_from(HOSTS).map(lambda a: Address(a, 64 if ":" in a else 24)) |
             st.builds(Address, st.sampled_from(HOSTS[:6]), st.sampled_from([20, 24])),
             unique_by=lambda a: a.address, max_size=6),
    st.lists(st.builds(Route, st.sampled_from(["10.0.1.0", "0.0.0.0", "fd00::", "::"]),
                       st.sampled_from([0, 24, 64]), table=st.sampled_from([30200, 30400, None])),
             unique=True, max_size=4),
    st.lists(st.sampled_from([None] + HOSTS).flatmap(lambda src: st.builds(
        Rule, st.sampled_from([30200, 30350, 30400]), st.sampled_from([254, 30200]),
        st.just(src), st.just(0 if src is None else 128 if ":" in src else 32),
        family=st.just(6 if src and ":" in src else 4))), unique=True, max_size=5),
    st.none() | st.sampled_from([1500, 9001]),
)


@settings(max_examples=300, deadline=None)
@given(entry_pools, entry_pools)
def test_kept_is_what_stays_in_wanteds_order(current, wanted):
    kept = delta.kept(current, wanted)
    for name in ("addresses", "routes", "rules"):
        mine, theirs, stays = getattr(current, name), getattr(wanted, name), getattr(kept, name)
        assert set(stays) == set(mine) & set(theirs)  # current minus what leaves
        assert list(stays) == [item for item in theirs if item in set(mine)]  # wanted's order
    # From current to kept only removes; from kept to wanted only adds.
    step1, step2 = delta.diff(current, kept), delta.diff(kept, wanted)
    assert not (step1.add_addresses or step1.add_routes or step1.add_rules)
    assert not (step2.remove_addresses or step2.remove_routes or step2.remove_rules)
    assert not delta.gains(current, kept) and not delta.loses(kept, wanted)
    change = delta.diff(current, wanted)
    assert delta.loses(current, wanted) is bool(
        change.remove_addresses or change.remove_routes or change.remove_rules)
    assert delta.gains(current, wanted) is bool(
        change.add_addresses or change.add_routes or change.add_rules)
    if wanted.addresses and wanted.addresses[0] in current.addresses:
        assert kept.addresses[0] == wanted.addresses[0]  # the primary stays first
    assert kept.mtu == wanted.mtu


@settings(max_examples=300, deadline=None)
@given(entry_pools, st.sets(st.sampled_from(HOSTS)))
def test_withheld_removes_exactly_the_blocked_addresses(wanted, blocked):
    result = delta.withheld(wanted, blocked)
    assert set(delta.held(result)) == set(delta.held(wanted)) - blocked
    assert set(result.rules) == {r for r in wanted.rules if r.from_addr not in blocked}
    assert result.routes == wanted.routes and result.mtu == wanted.mtu
