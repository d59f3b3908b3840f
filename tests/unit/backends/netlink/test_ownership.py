"""The netlink backend's ownership rules: only what it added is ever removed."""

from __future__ import annotations

import json

import pytest

from nm_cloud_setup.backends.netlink import ownership
from nm_cloud_setup.backends.netlink.ownership import KernelView, Record
from nm_cloud_setup.model import Address, InterfaceData, Ipv4Config, Route, Rule
from nm_cloud_setup.planning import layout

PRIMARY = Address("10.0.1.10", 24)
SECOND = Address("10.0.1.11", 24)
SUPPRESS = Rule(30350, 254, suppress_prefixlength=0)


def wanted(*addresses):
    iface = InterfaceData("02:00:00:00:00:01", 0, addresses, "10.0.1.0/24")
    return layout.desired(iface, Ipv4Config(), single_address=False)


def kernel_after(config, *extra_addresses):
    """The kernel once ``config`` is applied (routes in their kernel form)."""
    return KernelView(config.addresses + extra_addresses,
                      tuple(ownership.normalize_route(r) for r in config.routes), config.rules)


def test_first_run_adds_all_but_the_dhcp_primary():
    want = wanted("10.0.1.10", "10.0.1.11")
    diff = ownership.changes(KernelView((PRIMARY,)), Record(), "eth1", want)
    assert diff.add_addresses == (SECOND,)
    assert set(diff.add_rules) == set(want.rules) and set(diff.add_routes) == set(want.routes)
    assert not diff.remove_addresses and not diff.remove_rules and not diff.remove_routes
    record = ownership.recorded(Record(), "eth1", want, diff)
    assert record.addresses["eth1"] == [SECOND]  # the primary is not ours


def test_in_sync_after_applying():
    want = wanted("10.0.1.10", "10.0.1.11")
    first = ownership.changes(KernelView((PRIMARY,)), Record(), "eth1", want)
    record = ownership.recorded(Record(), "eth1", want, first)
    diff = ownership.changes(kernel_after(want), record, "eth1", want)
    assert not diff and ownership.recorded(record, "eth1", want, diff) == record


def test_only_owned_entries_are_removed():
    old = wanted("10.0.1.10", "10.0.1.11")
    record = Record({"eth1": [SECOND]}, {"eth1": list(old.rules)})
    admin_rule = Rule(30200, 30200, "10.0.1.99", 32)
    admin_address = Address("192.168.7.1", 32)
    view = KernelView(old.addresses + (admin_address,),
                      tuple(ownership.normalize_route(r) for r in old.routes),
                      old.rules + (admin_rule,))
    diff = ownership.changes(view, record, "eth1", wanted("10.0.1.10"))
    assert diff.remove_addresses == (SECOND,)
    assert set(diff.remove_rules) == {Rule(30200, 30200, "10.0.1.11", 32),
                                      Rule(30400, 30400, "10.0.1.11", 32)}
    assert admin_rule not in diff.remove_rules


def test_an_identical_foreign_rule_is_never_recorded_so_never_removed():
    want = wanted("10.0.1.10", "10.0.1.11")
    foreign = Rule(30200, 30200, "10.0.1.11", 32)
    diff = ownership.changes(KernelView((PRIMARY,), (), (foreign,)), Record(), "eth1", want)
    assert foreign not in diff.add_rules
    record = ownership.recorded(Record(), "eth1", want, diff)
    assert foreign not in record.rules["eth1"]


def test_shared_suppress_rule_stays_while_another_device_wants_it():
    record = Record({}, {"eth1": [SUPPRESS]})
    want_eth2 = wanted("10.0.1.10", "10.0.1.11")
    view = KernelView((PRIMARY,), (), (SUPPRESS,))
    diff = ownership.changes(view, record, "eth2", want_eth2)
    record = ownership.recorded(record, "eth2", want_eth2, diff)
    assert SUPPRESS in record.rules["eth2"]  # co-owned now
    gone = ownership.changes(view, record, "eth1", Ipv4Config())
    assert SUPPRESS not in gone.remove_rules


def test_local_routes_live_in_the_local_table():
    route = Route("35.1.2.3", 32, metric=100, type="local")
    assert ownership.normalize_route(route).table == ownership.TABLE_LOCAL
    assert ownership.normalize_route(Route("10.0.0.0", 8, "10.0.1.1")).table == 254


@pytest.mark.parametrize("route, planned", [
    # a local route in the local table is the plan's local route, which names no table
    (Route("35.1.2.3", 32, None, 100, 255, "local"), Route("35.1.2.3", 32, None, 100, None,
                                                           "local")),
    # anything else keeps its table, the main one included
    (Route("35.1.2.3", 32, None, 100, 254, "local"), Route("35.1.2.3", 32, None, 100, 254,
                                                           "local")),
    (Route("10.0.0.0", 8, "10.0.1.1", 100, 255), Route("10.0.0.0", 8, "10.0.1.1", 100, 255)),
    (Route("10.0.0.0", 8, "10.0.1.1", 100, 30200), Route("10.0.0.0", 8, "10.0.1.1", 100,
                                                         30200)),
])
def test_plan_route_is_the_inverse_of_normalize_route_for_local_routes(route, planned):
    assert ownership.plan_route(route) == planned
    if route.table == 255 and route.type == "local":
        assert ownership.normalize_route(planned) == route


@pytest.mark.parametrize("text", ["", "{", "[]", '{"addresses": {"eth1": [5]}}',
                                  '{"rules": {"eth1": [{"bogus": 1}]}}',
                                  '{"mtus": {"eth1": [1500]}}', '{"mtus": {"eth1": ["1500", 1]}}'])
def test_bad_records_are_refused(text):
    with pytest.raises(ValueError):
        Record.from_json(text)


def test_record_round_trip():
    record = Record({"eth1": [SECOND]}, {"eth1": [SUPPRESS, Rule(30200, 30200, "10.0.1.11", 32)]},
                    mtus={"eth2": (1500, 1460)})
    assert Record.from_json(record.to_json()) == record


@pytest.mark.parametrize("mtus, link, wanted, after", [
    ({}, 1500, 1460, {"eth1": (1500, 1460)}),                 # set: the one before kept
    ({"eth1": (1500, 1460)}, 1460, 1500, {}),                 # back to the one before
    ({"eth1": (1500, 1460)}, 1460, 8896, {"eth1": (1500, 8896)}),  # the cloud's changed
    ({"eth1": (1500, 1460)}, 1460, 1460, {"eth1": (1500, 1460)}),  # unchanged
    ({"eth1": (1500, 1460)}, 1400, 1400, {}),                 # another's since: forgotten
    ({}, 1460, 1460, {}),                                     # was there already: not ours
    ({"eth2": (9000, 1500)}, 1500, None, {"eth2": (9000, 1500)}),  # another link's stays
])
def test_the_mtu_this_backend_set_is_recorded_with_the_one_before(mtus, link, wanted, after):
    record = Record(mtus=dict(mtus))
    assert ownership.with_mtu(record, "eth1", link, wanted).mtus == after
    assert ownership.with_mtu(Record(links=["eth1"]), "eth1", link, wanted).mtus == {}


def test_a_gone_link_takes_its_mtu_along():
    record = Record(mtus={"eth1": (1500, 1460), "eth2": (1500, 1460)})
    assert ownership.leftovers(record, ["eth1"], [])[1].mtus == {"eth2": (1500, 1460)}
    assert record.without("eth2").mtus == {"eth1": (1500, 1460)}


def test_the_rules_of_a_gone_nic_are_removed_but_not_the_shared_one():
    first, second = wanted("10.0.1.10", "10.0.1.11"), wanted("10.0.1.20")
    record = Record({"eth1": [SECOND], "eth2": []},
                    {"eth1": list(first.rules), "eth2": list(second.rules)})
    kernel = list(first.rules) + list(second.rules) + [Rule(100, 200, "192.0.2.1", 32)]
    remove, after = ownership.leftovers(record, ["eth1"], kernel)
    assert set(remove) == set(first.rules) - {SUPPRESS}  # eth2 still holds the shared one
    assert not set(remove) & set(second.rules)  # eth2 itself is untouched
    assert after == Record({"eth2": []}, {"eth2": list(second.rules)})
    remove, after = ownership.leftovers(record, ["eth1", "eth2"], kernel)
    assert set(remove) == set(first.rules) | set(second.rules) and after == Record()
    assert Rule(100, 200, "192.0.2.1", 32) not in remove  # never recorded, never ours


def test_an_owned_address_follows_its_subnet_resized():
    """Found by the soak: a subnet resized (/22 back to /20) left the address the
    backend had added with the old prefix, and it said "no update" for ever."""
    narrow = InterfaceData("02:00:00:00:00:01", 0, ("10.0.1.10", "10.0.1.11"), "10.0.0.0/22")
    before = layout.desired(narrow, Ipv4Config(), single_address=False)
    first = ownership.changes(KernelView((PRIMARY,)), Record(), "eth1", before)
    record = ownership.recorded(Record(), "eth1", before, first)
    assert record.addresses["eth1"] == [Address("10.0.1.11", 22)]
    kernel = kernel_after(before, PRIMARY)
    kernel = KernelView((PRIMARY, Address("10.0.1.11", 22)), kernel.routes, kernel.rules)

    want = wanted("10.0.1.10", "10.0.1.11")  # the subnet is a /24 again
    diff = ownership.changes(kernel, record, "eth1", want)
    assert diff.remove_addresses == (Address("10.0.1.11", 22),)
    assert diff.add_addresses == (SECOND,)  # not the primary: not ours, left as it is
    assert ownership.recorded(record, "eth1", want, diff).addresses["eth1"] == [SECOND]


def test_an_address_not_ours_is_left_whatever_its_prefix():
    want = wanted("10.0.1.10", "10.0.1.11")
    kernel = KernelView((Address("10.0.1.10", 16), SECOND))
    diff = ownership.changes(kernel, Record({"eth1": [SECOND]}), "eth1", want)
    assert not diff.add_addresses and not diff.remove_addresses


def test_routes_of_the_device_no_longer_wanted_are_removed():
    want = wanted("10.0.1.10", "10.0.1.11")
    stale = Route("10.9.0.0", 16, "10.0.1.1", 100, 30200)
    view = kernel_after(want)
    view = KernelView(view.addresses, view.routes + (stale,), view.rules)
    diff = ownership.changes(view, Record({"eth1": [SECOND]}, {"eth1": list(want.rules)}),
                             "eth1", want)
    assert diff.remove_routes == (stale,)
    assert not diff.add_routes and not diff.add_rules and not diff.remove_rules


def test_normalized_routes_keep_every_field_but_gain_a_table():
    assert ownership.normalize_route(Route("10.0.0.0", 8, "10.0.1.1", 100)) == Route(
        "10.0.0.0", 8, "10.0.1.1", 100, ownership.TABLE_MAIN)
    assert ownership.normalize_route(Route("35.1.2.3", 32, None, 100, type="local")) == Route(
        "35.1.2.3", 32, None, 100, ownership.TABLE_LOCAL, "local")
    routed = Route("10.0.0.0", 8, "10.0.1.1", 100, 30200)
    assert ownership.normalize_route(routed) == routed


def test_the_record_keeps_its_links_through_changes_and_leftovers():
    want = wanted("10.0.1.10", "10.0.1.11")
    record = Record({"eth1": []}, {"eth1": []}, ["macvlan2", "vlan9"])
    diff = ownership.changes(KernelView((PRIMARY,)), record, "eth1", want)
    assert ownership.recorded(record, "eth1", want, diff).links == ["macvlan2", "vlan9"]
    # vlan9 is gone, with addresses recorded but no rules
    record = Record({"eth1": [SECOND], "vlan9": [Address("10.0.9.5", 24)]},
                    {"eth1": list(want.rules)}, ["macvlan2", "vlan9"])
    remove, after = ownership.leftovers(record, ["vlan9"], want.rules)
    assert remove == [] and after.links == ["macvlan2"]
    assert after == Record({"eth1": [SECOND]}, {"eth1": list(want.rules)}, ["macvlan2"])


def test_a_record_without_a_device_keeps_the_others():
    record = Record({"eth1": [SECOND], "vlan9": []}, {"eth1": [SUPPRESS], "vlan9": [SUPPRESS]},
                    ["vlan9", "macvlan2"])
    assert record.without("vlan9") == Record({"eth1": [SECOND]}, {"eth1": [SUPPRESS]},
                                             ["macvlan2"])
    assert record.without("eth7") == record


def test_the_record_files_form_and_links_through_it():
    record = Record({"eth1": [SECOND]}, {"eth1": [SUPPRESS]}, ["macvlan2"])
    text = record.to_json()
    assert json.loads(text) == {"version": 1, "addresses": {"eth1": ["10.0.1.11/24"]},
                                "rules": {"eth1": [{"priority": 30350, "table": 254,
                                                    "from_addr": None, "from_len": 0,
                                                    "suppress_prefixlength": 0, "family": 4}]},
                                "links": ["macvlan2"], "mtus": {}}
    assert text == json.dumps(json.loads(text), sort_keys=True)  # compact: written often
    assert Record.from_json(text) == record
    assert Record.from_json('{"version": 1}') == Record()
    assert Record.from_json('{"links": ["vlan9"]}') == Record(links=["vlan9"])


def test_a_local_route_keeps_its_next_hop_in_the_plans_form():
    route = Route("35.1.2.3", 32, "10.0.1.1", 100, 255, "local")
    assert ownership.plan_route(route) == Route("35.1.2.3", 32, "10.0.1.1", 100, None, "local")
