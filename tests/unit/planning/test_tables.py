"""The layout's numbers: upstream's by default, moved or split where configured, refused
where ranges overlap; and what a run adds when the administrator routes (addresses only)
or another program adds the addresses (rules only)."""

from __future__ import annotations

import pytest

from nm_cloud_setup.model import Address, InterfaceData, Route, Rule
from nm_cloud_setup.planning import layout
from nm_cloud_setup.planning.tables import UPSTREAM, Tables


def nic(index=1):
    return InterfaceData("02:00:00:00:00:02", index, ("10.0.1.10", "10.0.1.11"), "10.0.1.0/24",
                         ipv6_addresses=("2600:1f18::10",), ipv6_subnet="2600:1f18::/64")


def test_upstreams_numbers_are_the_default_and_their_ranges_hold():
    assert UPSTREAM.problems() == []
    assert [str(span) for _, span in UPSTREAM.table_ranges()] == [
        "range(30200, 30300)", "range(30400, 30500)", "range(30500, 31000)",
        "range(31000, 43600)"]
    assert UPSTREAM.owns_table(30401) and not UPSTREAM.owns_table(30350)
    assert UPSTREAM.owns_priority(30350) and not UPSTREAM.owns_priority(30300)


def test_moved_tables_and_priorities_set_apart():
    tables = Tables(subnet=1200, default=1400, extra=1500, suppress=900, subnet_priority=1000,
                    default_priority=1100, extra_priority=2000)
    assert tables.problems() == []
    config = layout.cloud_entries(nic(), tables=tables).family(4)
    assert set(config.rules) == {
        Rule(1001, 1201, "10.0.1.10", 32), Rule(1001, 1201, "10.0.1.11", 32),
        Rule(900, 254, suppress_prefixlength=0),
        Rule(1101, 1401, "10.0.1.10", 32), Rule(1101, 1401, "10.0.1.11", 32)}
    assert set(config.routes) == {Route("10.0.1.0", 24, metric=10, table=1201),
                                  Route("0.0.0.0", 0, next_hop="10.0.1.1", metric=10,
                                        table=1401)}


@pytest.mark.parametrize("tables, problem", [
    (Tables(default=30250), "the subnet tables (30200-30299) and the default-route tables "
                            "(30250-30349) overlap"),
    (Tables(suppress=30410), "the suppress rule (30410) and the default-route rules "
                             "(30400-30499) overlap"),
    (Tables(extra=30450), "the default-route tables (30400-30499) and the further-subnet "
                          "tables (30450-30949) overlap"),
    (Tables(subnet=200), "the subnet tables (200-299) take a reserved table"),
    (Tables(default_priority=32700), "the default-route rules (32700-32799) leave the "
                                     "priorities 1-32765"),
    (Tables(subnet_priority=0), "the subnet rules (0-99) leave the priorities 1-32765"),
])
def test_ranges_that_overlap_or_leave_their_bounds_are_refused(tables, problem):
    assert any(p.startswith(problem) for p in tables.problems()), tables.problems()


def test_addresses_only_adds_no_rules_routes_or_tables():
    tables = Tables(routing=frozenset())
    config = layout.cloud_entries(nic(), tables=tables)
    assert config.addresses == (Address("10.0.1.10", 24), Address("10.0.1.11", 24),
                                Address("2600:1f18::10", 64))
    assert config.routes == () and config.rules == ()


def test_rules_only_adds_no_addresses():
    config = layout.cloud_entries(nic(), tables=Tables(addresses=False))
    assert config.addresses == ()
    assert Rule(30201, 30201, "10.0.1.11", 32) in config.rules
    assert Rule(30401, 30401, "2600:1f18::10", 128, family=6) in config.rules


def test_rules_for_one_family_only():
    config = layout.cloud_entries(nic(), tables=Tables(routing=frozenset({4})))
    assert {r.family for r in config.rules} == {4}
    assert {r.family for r in config.routes} == {4}
    assert Address("2600:1f18::10", 64) in config.addresses


def test_locally_delivered_ranges_stay_in_addresses_only_mode():
    """GCP's forwarded IPs are delivered to the VM: their local routes are the addresses'
    kin, not the policy routing the administrator took over."""
    iface = InterfaceData("02:00:00:00:00:02", 0, ("10.0.1.10",), "10.0.1.0/24",
                          local_routes=("35.0.0.1/32",))
    config = layout.cloud_entries(iface, tables=Tables(routing=frozenset()))
    assert config.routes == (Route("35.0.0.1", 32, metric=100, type="local"),)


@pytest.mark.parametrize("card, index, subnet, default", [
    (0, 0, 30200, 30400), (0, 7, 30207, 30407),  # card 0: upstream's, single-card alike
    (1, 0, 31000, 31100), (1, 7, 31007, 31107), (2, 0, 31200, 31300),
    (63, 99, 43499, 43599)])
def test_network_card_tables(card, index, subnet, default):
    assert (UPSTREAM.subnet_table(index, card), UPSTREAM.default_table(index, card)) == \
        (subnet, default)
    assert UPSTREAM.owns_table(subnet) and UPSTREAM.owns_table(default)


def test_every_card_and_index_has_tables_of_its_own():
    seen = [table for card in range(64) for index in range(100)
            for table in (UPSTREAM.subnet_table(index, card), UPSTREAM.default_table(index, card))]
    assert len(seen) == len(set(seen))


def test_a_nic_on_another_card_gets_its_tables_and_card_zeros_priorities():
    config = layout.cloud_entries(InterfaceData(
        "02:00:00:00:00:02", 1, ("10.0.1.10",), "10.0.1.0/24", card=2)).family(4)
    assert set(config.rules) == {Rule(30201, 31201, "10.0.1.10", 32),
                                 Rule(30350, 254, suppress_prefixlength=0),
                                 Rule(30401, 31301, "10.0.1.10", 32)}
    assert {r.table for r in config.routes} == {31201, 31301}


def test_the_card_range_can_be_moved_and_is_checked():
    assert Tables(card=50000).problems() == []
    assert any("network-card tables" in p and "overlap" in p
               for p in Tables(card=30400).problems())


def test_the_bounds_of_the_table_numbers_are_inclusive():
    assert Tables(subnet=1).problems() == []  # table 1 is usable
    span = dict(UPSTREAM.table_ranges())["network-card tables"]
    top = Tables(card=2 ** 32 - len(span))  # the last card table is 4294967295
    assert dict(top.table_ranges())["network-card tables"][-1] == 2 ** 32 - 1
    assert top.problems() == []
    over = Tables(card=2 ** 32 - len(span) + 1)
    assert over.problems() == [
        "the network-card tables (4294954697-4294967296) take a reserved table (0, 253-255) "
        "or leave 1-4294967295"]


def test_ranges_that_only_touch_do_not_overlap():
    assert Tables(subnet=30500, default=30400, extra=50000, extra_priority=20000).problems() \
        == []
