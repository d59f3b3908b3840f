"""The planner (planning/planner.py): which families are planned, what a profile of this
tool's own starts from, what a family left off keeps, and what is held back while some
NIC's metadata is missing."""

from __future__ import annotations

from nm_cloud_setup.model import (Address, Current, InstanceData, InterfaceData, IpConfig, Route,
                                  Rule)
from nm_cloud_setup.planning import layout
from nm_cloud_setup.planning.planner import Planner
from nm_cloud_setup.planning.tables import Tables

ONE = InterfaceData("02:00:00:00:00:01", 0, ("10.0.1.10",), "10.0.1.0/24")
TWO = InterfaceData("02:00:00:00:00:02", 1, ("10.0.2.10", "10.0.2.11"), "10.0.2.0/24")
FAILED = InterfaceData("02:00:00:00:00:03", 2, error="local-ipv4s: HTTP 500")
V6 = Address("2001:db8::10", 64)
NOTHING = IpConfig()


def current(applied=NOTHING, own=NOTHING, off=(), ours=False) -> Current:
    return Current('"eth1"', own, applied, families_off=off, ours=ours)


def test_a_healthy_instance_plans_every_family_and_holds_nothing_back():
    tables = Tables(subnet=40200)
    planner = Planner.for_instance(InstanceData("ec2", (ONE, TWO)), tables)
    assert planner.families == {4, 6} and not planner.hold_back
    assert planner.tables is tables and planner.single == {6}  # no IPv6 anywhere


def test_with_a_nic_failed_a_family_that_looks_single_address_is_left_as_it_is():
    planner = Planner.for_instance(InstanceData("ec2", (ONE, FAILED)))
    assert planner.hold_back and planner.families == frozenset()  # 4 and 6 both look single
    planner = Planner.for_instance(InstanceData("ec2", (ONE, TWO, FAILED)))
    assert planner.hold_back and planner.families == {4}


def test_a_family_left_off_is_named_only_where_the_cloud_has_data_for_it():
    off = ((6, "ipv6.method ignore"), (4, "ipv4.method disabled"))
    planner = Planner(single=False)
    assert planner.families_left(ONE, current(off=off)) == [(4, "ipv4.method disabled")]
    with_v6 = InterfaceData(ONE.mac, 0, ipv6_addresses=("2001:db8::10",),
                            ipv6_subnet="2001:db8::/64")
    assert planner.families_left(with_v6, current(off=off)) == [(6, "ipv6.method ignore")]
    forwarded_v6 = InterfaceData(ONE.mac, 0, local_routes=("2600:1900::/96",))
    assert planner.families_left(forwarded_v6, current(off=off)) == [(6, "ipv6.method ignore")]
    forwarded_v4 = InterfaceData(ONE.mac, 0, local_routes=("35.1.2.3/32",))
    assert planner.families_left(forwarded_v4, current(off=off)) == [
        (4, "ipv4.method disabled")]


def test_a_family_left_off_keeps_what_is_applied():
    applied = IpConfig((Address("10.0.1.10", 24), V6),
                       rules=(Rule(500, 600, "2001:db8::10", 128, family=6),))
    wanted = Planner(single=False)(TWO, current(applied, off=((6, "ipv6.method ignore"),)))
    assert wanted.family(6) == applied.family(6)
    assert Address("10.0.2.11", 24) in wanted.addresses


def test_a_profile_of_ours_starts_from_the_static_base_not_its_own_entries():
    static = InterfaceData(ONE.mac, 0, ("10.0.1.10",), "10.0.1.0/24", gateway="10.0.1.1",
                           ipv4_method="manual")
    own = IpConfig((Address("10.0.1.99", 24),))
    ours = Planner(single=False).cloud(static, current(own=own, ours=True))
    assert Route("0.0.0.0", 0, "10.0.1.1", metric=1024) in ours.routes
    assert Address("10.0.1.99", 24) not in ours.addresses
    theirs = Planner(single=False).cloud(static, current(own=own))
    assert Address("10.0.1.99", 24) in theirs.addresses
    assert theirs == layout.desired(static, own, False, applied=IpConfig())


def test_departing_addresses_are_held_back_only_while_a_nics_metadata_is_missing():
    applied = layout.desired(TWO, IpConfig(), False)
    shrunk = InterfaceData(TWO.mac, 1, ("10.0.2.10",), "10.0.2.0/24")
    assert Planner(single=False).held_back(shrunk, current(applied)) == []
    holding = Planner(single=False, hold_back=True)
    assert holding.held_back(shrunk, current(applied)) == ["10.0.2.11"]
    assert Address("10.0.2.11", 24) in holding(shrunk, current(applied)).addresses


def test_a_profile_made_for_a_static_nic_holds_its_base_and_its_layout():
    static = InterfaceData(TWO.mac, 1, ("10.0.2.10", "10.0.2.11"), "10.0.2.0/24",
                           gateway="10.0.2.1", ipv4_method="manual", dns=("10.0.2.53",))
    tables = Tables(subnet=40200, default=40400, extra=40500, card=41000,
                    subnet_priority=20200, default_priority=20400, extra_priority=20500)
    made = Planner(single=False, tables=tables).made(static)
    assert made.addresses == (Address("10.0.2.10", 24), Address("10.0.2.11", 24))
    assert Route("0.0.0.0", 0, "10.0.2.1", metric=1025) in made.routes  # the static base
    assert Route("0.0.0.0", 0, "10.0.2.1", metric=10, table=40401) in made.routes
    assert Rule(20401, 40401, "10.0.2.11", 32) in made.rules and made.dns == ("10.0.2.53",)
    single = Planner(single=True).made(static)  # no layout: only the base
    assert single.rules == () and single.routes == (Route("0.0.0.0", 0, "10.0.2.1",
                                                          metric=1025),)
    # a family not planned is left as applied: a new profile has nothing applied
    assert Planner(single=False, families=frozenset({6})).made(static).family(4) == IpConfig()


def test_the_planners_tables_and_a_profile_of_ours_name_servers_are_used():
    static = InterfaceData(TWO.mac, 1, ("10.0.2.10", "10.0.2.11"), "10.0.2.0/24",
                           gateway="10.0.2.1", ipv4_method="manual", dns=("10.0.2.53",))
    tables = Tables(subnet=40200, default=40400, extra=40500, card=41000,
                    subnet_priority=20200, default_priority=20400, extra_priority=20500)
    applied = IpConfig((Address("10.0.2.10", 24),), dns=("192.0.2.1",))
    wanted = Planner(single=False, tables=tables).cloud(static, current(applied, ours=True))
    assert wanted.dns == ("10.0.2.53",)  # ours: the metadata's, not what is applied
    assert Rule(20401, 40401, "10.0.2.11", 32) in wanted.rules
    theirs = Planner(single=False).cloud(static, current(applied))
    assert theirs.dns == ("192.0.2.1",)  # another's profile: its name servers stay
