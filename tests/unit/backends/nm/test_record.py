"""The NetworkManager backend's record of what it gave each device (kept across its
restarts): what counts as forgotten, what a gone NIC leaves, and the file's form."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nm_cloud_setup.backends.nm import record as nm_record
from nm_cloud_setup.model import Address, InterfaceData, IpConfig, Route, Rule
from nm_cloud_setup.planning import layout


def cloud(*hosts: int, index: int = 0) -> IpConfig:
    iface = InterfaceData("02:00:00:00:00:01", index, tuple(f"10.0.1.{h}" for h in hosts),
                          "10.0.1.0/24")
    return layout.cloud_entries(iface)


def test_nothing_is_forgotten_while_networkmanager_has_it_all():
    given = cloud(10, 11)
    assert nm_record.forgotten(given, given, ["10.0.1.10", "10.0.1.11"]) == IpConfig()


def test_after_a_restart_the_entries_still_on_the_device_are_forgotten():
    given = cloud(10, 11, 12)
    profile_only = IpConfig()
    lost = nm_record.forgotten(given, profile_only, present=["10.0.1.10", "10.0.1.11"])
    # An address the device no longer holds is not handed back (that would add it).
    assert {a.address for a in lost.addresses} == {"10.0.1.10", "10.0.1.11"}
    assert set(lost.rules) == set(given.rules) and set(lost.routes) == set(given.routes)


def test_the_rules_a_gone_nic_leaves_are_its_own_only():
    records = {"eth1": nm_record.Given("u1", cloud(10, 11)),
               "eth2": nm_record.Given("u2", cloud(20, index=1))}
    rules = nm_record.leftover_rules(records, ["eth1"])
    assert Rule(30350, 254, suppress_prefixlength=0) not in rules  # eth2 has it too
    assert {r.from_addr for r in rules} == {"10.0.1.10", "10.0.1.11"}
    assert nm_record.leftover_rules(records, []) == []


@pytest.mark.parametrize("records", [
    {},
    {"eth1": nm_record.Given("u1", cloud(10, 11)), "eth2": nm_record.Given("u2", IpConfig())},
    {"eth1": nm_record.Given("u1", IpConfig(
        (Address("fd00::5", 64),),
        (Route("::", 0, next_hop="fd00::1", metric=10, table=30400,
               extra=(("onlink", "b", True),)),),
        (Rule(30400, 30400, "fd00::5", 128),)))},
    {"eth1": nm_record.Given("u1", IpConfig(mtu=1460)), "eth2": nm_record.Given("u2", cloud(20))},
])
def test_the_record_survives_its_file(records):
    assert nm_record.from_json(nm_record.to_json(records)) == records


def test_the_file_is_the_json_document_and_an_indented_one_still_loads():
    records = {"eth2": nm_record.Given("u2", cloud(20, index=1)),
               "eth1": nm_record.Given("u1", cloud(10, 11))}
    document = {"version": 1, "devices": {name: {"connection": given.connection, "entries": [
        {"kind": kind, **dataclasses.asdict(item)} for kind, cls in
        (("address", Address), ("route", Route), ("rule", Rule))
        for item in given.config.addresses + given.config.routes + given.config.rules
        if isinstance(item, cls)]} for name, given in records.items()}}
    text = nm_record.to_json(records)
    assert json.loads(text) == json.loads(json.dumps(document))
    assert nm_record.from_json(json.dumps(document, indent=1, sort_keys=True)) == records


@pytest.mark.parametrize("text", [
    "", "[]", '{"devices": {"eth1": [{"kind": "rule"}]}}',
    '{"devices": {"eth1": {"connection": "u", "entries": [{"kind": "nope"}]}}}',
    '{"devices": {"eth1": {"connection": "u", "entries": [{"kind": "rule", "x": 1}]}}}',
    '{"devices": {"eth1": {"connection": "u", "entries": [], "mtu": "1460"}}}'])
def test_a_garbled_record_is_refused(text):
    with pytest.raises(ValueError):
        nm_record.from_json(text)


def test_load_and_save(tmp_path):
    records = {"eth1": nm_record.Given("u1", cloud(10, 11))}
    nm_record.save(tmp_path / "state", records)
    assert nm_record.load(tmp_path / "state") == records
    (tmp_path / "state" / nm_record.RECORD).write_text("{")
    assert nm_record.load(tmp_path / "state") == {}
    assert nm_record.load(None) == {} and nm_record.load(tmp_path / "none") == {}
    (tmp_path / "file").write_text("")
    nm_record.save(tmp_path / "file" / "x", records)  # no state directory: no record, no error


class FakeKernel:
    """The kernel's rules and links, as the record's netlink reader gives them."""

    def __init__(self, rules=(), links=()):
        self._rules, self._links, self.deleted = list(rules), list(links), []

    def rules(self):
        return self._rules

    def links(self):
        return self._links

    def delete(self, rules):
        self.deleted += list(rules)


def test_written_ahead_the_record_holds_both_what_the_device_had_and_gets(tmp_path):
    memory = nm_record.Memory(tmp_path)
    memory.write("eth1", nm_record.Given("u1", cloud(10, 11)))
    memory.write("eth1", nm_record.Given("u1", cloud(10, 12)), ahead=True)
    assert nm_record.load(tmp_path)["eth1"].connection == "u1"
    on_disk = nm_record.load(tmp_path)["eth1"].config
    assert {a.address for a in on_disk.addresses} == {"10.0.1.10", "10.0.1.11", "10.0.1.12"}
    assert set(cloud(10, 11).rules) | set(cloud(10, 12).rules) == set(on_disk.rules)
    assert memory.given("eth1", "u1") == cloud(10, 11)  # the run's view: not applied yet
    memory.write("eth1", nm_record.Given("u1", cloud(10, 12)))  # applied: exactly that
    assert nm_record.load(tmp_path)["eth1"].config == cloud(10, 12)
    assert memory.given("eth1", "u1") == cloud(10, 12) and memory.given("eth1", "u2") is None


def test_written_ahead_for_another_connection_the_old_one_is_not_merged(tmp_path):
    memory = nm_record.Memory(tmp_path)
    memory.write("eth1", nm_record.Given("u1", cloud(10, 11)))
    memory.write("eth1", nm_record.Given("u2", cloud(10, 12)), ahead=True)
    assert nm_record.load(tmp_path)["eth1"] == nm_record.Given("u2", cloud(10, 12))


def test_only_the_rules_still_in_the_kernel_are_handed_back(tmp_path):
    lost = cloud(10, 11)
    kept = lost.rules[:2]
    kernel = FakeKernel(rules=kept)
    memory = nm_record.Memory(tmp_path, kernel=lambda: kernel)
    there = memory.still_there(lost)
    assert there.rules == kept and there.addresses == lost.addresses
    assert there.routes == lost.routes
    assert nm_record.Memory(tmp_path).still_there(lost) == lost  # no kernel to ask


def test_without_rules_lost_the_kernel_is_not_even_read(tmp_path):
    def no_kernel():
        raise AssertionError("netlink loaded for nothing")

    lost = IpConfig((Address("10.0.1.11", 24),))
    assert nm_record.Memory(tmp_path, kernel=no_kernel).still_there(lost) == lost


def test_the_rules_of_a_gone_nic_are_removed_from_the_kernel_and_the_record(tmp_path):
    records = {"eth1": nm_record.Given("u1", cloud(10, index=0)),
               "eth2": nm_record.Given("u2", cloud(20, index=1)),
               "eth3": nm_record.Given("u3", cloud(30, index=2)),
               "eth4": nm_record.Given("u4", cloud(40, index=3))}  # its rules went with it
    nm_record.save(tmp_path, records)
    # eth2 is gone; eth3 is not listed by NetworkManager but its link is still there
    gone = cloud(20, index=1).rules
    kernel = FakeKernel(rules=cloud(10, index=0).rules + gone[1:], links=["eth3"])
    memory = nm_record.Memory(tmp_path, kernel=lambda: kernel)
    assert memory.remove_leftovers(["eth1"]) == ["eth2"]
    # its own rules that are still there; not the 30350 one, which eth1 holds too
    assert kernel.deleted == [r for r in gone[1:] if r.priority != 30350]
    assert any(r.priority == 30350 for r in gone[1:])
    assert sorted(nm_record.load(tmp_path)) == ["eth1", "eth3"]  # eth4: nothing left, gone
    assert nm_record.Memory(tmp_path).remove_leftovers(["eth1"]) == []  # no kernel: nothing


def test_the_files_form_is_versioned_sorted_and_compact():
    given = nm_record.Given("u1", IpConfig((Address("10.0.1.11", 24),), (), (
        Rule(30200, 30200, "10.0.1.11", 32),)))
    text = nm_record.to_json({"eth1": given})
    assert json.loads(text) == {"version": 1, "devices": {"eth1": {"connection": "u1", "entries": [
        {"kind": "address", "address": "10.0.1.11", "prefix": 24},
        {"kind": "rule", "priority": 30200, "table": 30200, "from_addr": "10.0.1.11",
         "from_len": 32, "suppress_prefixlength": None, "extra": [], "family": 4}]}}}
    assert text == json.dumps(json.loads(text), sort_keys=True)  # compact: written often


def test_a_route_with_extra_attributes_survives_the_file():
    route = Route("10.0.0.0", 8, "10.0.1.1", 100, 30200, extra=(("mtu", "u", 1400),))
    records = {"eth1": nm_record.Given("u1", IpConfig(routes=(route,)))}
    assert nm_record.from_json(nm_record.to_json(records)) == records


def test_save_makes_the_state_directory_and_overwrites(tmp_path):
    state = tmp_path / "a" / "b" / "state"
    records = {"eth1": nm_record.Given("u1", cloud(10, 11))}
    nm_record.save(state, records)
    nm_record.save(state, {})
    assert nm_record.load(state) == {}
    assert [p.name for p in state.iterdir()] == [nm_record.RECORD]  # no temporary file left


def test_an_unreadable_record_is_named_in_the_warning(tmp_path, caplog):
    (tmp_path / nm_record.RECORD).write_text("{")
    assert nm_record.load(tmp_path) == {}
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"ignoring the unreadable record {tmp_path / nm_record.RECORD} "
                              "(not a record of applied entries (")
