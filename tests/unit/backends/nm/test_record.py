"""The NetworkManager backend's record of what it gave each device (kept across its
restarts): what counts as forgotten, what a gone NIC leaves, and the file's form."""

from __future__ import annotations

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
