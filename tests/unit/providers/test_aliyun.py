"""Alibaba Cloud (providers/aliyun.py): the whole-tree document, IP lists, bad and lenient
values, and IPv6."""

from __future__ import annotations

import json
import logging

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import aliyun
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from tests.support.parsers import sample


def test_aliyun_all():
    entries = aliyun.parse_all(sample("aliyun_all.json"))
    mac, values = entries[0]
    nic = aliyun.interface_from(0, mac.upper(), values)
    assert nic.addresses == ("172.16.101.215", "172.16.101.216", "172.16.101.220")
    # The vSwitch's subnet from primary and netmask, not the VPC block (upstream's bug).
    assert nic.subnet == "172.16.101.0/24" and nic.gateway == "172.16.101.253"


@pytest.mark.parametrize("value, expected", [
    ('["10.0.0.2","10.0.0.1"]', ["10.0.0.2", "10.0.0.1"]),
    ('[ "10.0.0.2", "10.0.0.1" ]', ["10.0.0.2", "10.0.0.1"]),
    ("10.0.0.2,10.0.0.1", ["10.0.0.2", "10.0.0.1"]),
    (["10.0.0.2"], ["10.0.0.2"]),
])
def test_aliyun_ip_lists(value, expected):
    assert aliyun.parse_ip_list(value) == expected


@pytest.mark.parametrize("change, message", [
    ({"netmask": "255.0.255.0"}, "invalid IPv4 netmask"),
    ({"netmask": None}, "netmask is missing"),
    ({"private-ipv4s": 5}, "private-ipv4s is missing"),
    ({"private-ipv4s": "[\"172.16.101.300\"]"}, "invalid IPv4 address"),
])
def test_aliyun_bad_values(change, message):
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    with pytest.raises(MetadataError, match=message):
        aliyun.interface_from(0, "00:16:3E:14:59:58", {**values, **change})


@pytest.mark.parametrize("change, addresses, gateway", [
    # As upstream: without a usable primary the first listed address leads ...
    ({"primary-ip-address": None}, ("172.16.101.216", "172.16.101.215", "172.16.101.220"),
     "172.16.101.253"),
    ({"primary-ip-address": "nope"}, ("172.16.101.216", "172.16.101.215", "172.16.101.220"),
     "172.16.101.253"),
    # ... and without a usable gateway the subnet's first host is the gateway.
    ({"gateway": "nope"}, ("172.16.101.215", "172.16.101.216", "172.16.101.220"), None),
    ({"gateway": None}, ("172.16.101.215", "172.16.101.216", "172.16.101.220"), None),
    # An address outside the netmask's subnet is kept (upstream does too).
    ({"private-ipv4s": ["172.16.200.1"]}, ("172.16.101.215", "172.16.200.1"), "172.16.101.253"),
])
def test_aliyun_lenient_values(change, addresses, gateway, caplog):
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    values = {**values, **change}
    if "primary-ip-address" in change:
        values["private-ipv4s"] = ["172.16.101.216", "172.16.101.215", "172.16.101.220"]
    nic = aliyun.interface_from(0, "00:16:3E:14:59:58", values)
    assert nic.addresses[0] == addresses[0] and set(nic.addresses) == set(addresses)
    assert nic.gateway == gateway and nic.valid
    assert "<" not in caplog.text and ("going without it" in caplog.text
                                       or "outside" in caplog.text)


def test_aliyun_bad_documents():
    with pytest.raises(MetadataError, match="network.interfaces.macs"):
        aliyun.parse_all('{"network": {}}')
    with pytest.raises(MetadataError, match="no interfaces"):
        aliyun.parse_all('{"network": {"interfaces": {"macs": {}}}}')


# -- IPv6 ----------------------------------------------------------------------

def test_aliyun_ipv6_in_the_vswitch_block_via_its_gateway():
    ((mac, values),) = aliyun.parse_all(sample("aliyun_all_dualstack.json"))
    nic = aliyun.interface_from(0, mac.upper(), values)
    assert nic.ipv6_addresses == ("2408:4005:325:a204:1875:217f:184a:e4e",
                                  "2408:4005:325:a204:1875:217f:184a:e4f")
    assert nic.ipv6_subnet == "2408:4005:325:a204::/64"
    assert nic.ipv6_gateway == "2408:4005:325:a204:ffff:ffff:ffff:fff7"


def test_aliyun_bracketed_text_form_and_absence():
    ((_, values),) = aliyun.parse_all(sample("aliyun_all_dualstack.json"))
    text = {**values, "ipv6s": '["2408:4005:325:a204::9"]'}
    assert aliyun.interface_from(0, "00:16:3E:14:59:58", text).ipv6_addresses == (
        "2408:4005:325:a204::9",)
    bare = {k: v for k, v in values.items() if "ipv6" not in k}
    assert aliyun.interface_from(0, "00:16:3E:14:59:58", bare).ipv6_addresses == ()


@pytest.mark.parametrize("change, message", [
    ({"ipv6s": ["172.16.101.9"]}, "IPv4 address where an IPv6"),
    ({"ipv6s": ["2408:4005:325:a204::zz"]}, "invalid IPv6 address"),
    ({"vswitch-ipv6-cidr-block": "2408:4005:325:a204::/130"}, "invalid IPv6 subnet"),
    ({"vswitch-ipv6-cidr-block": None}, "vswitch-ipv6-cidr-block is missing"),
    ({"ipv6-gateway": "ff02::2"}, "cannot be a router"),
    ({"ipv6s": ["2408:4005:325:b000::1"]}, "outside"),
])
def test_aliyun_bad_ipv6_values(change, message):
    ((_, values),) = aliyun.parse_all(sample("aliyun_all_dualstack.json"))
    values = {k: v for k, v in {**values, **change}.items() if v is not None}
    with pytest.raises(MetadataError, match=message):
        aliyun.interface_from(0, "00:16:3E:14:59:58", values)


# -- a whole run against the emulator: what it finds, its requests, upstream's lines ----

@pytest.mark.parametrize("bulk, requests, text", [(True, 0, "{mac}"), (False, 10, "{mac}/")])
def test_aliyun_get_config_finds_the_local_nics_with_upstreams_lines(make_emulator, caplog, bulk,
                                                                    requests, text):
    """The requests after detecting: none for the document (it came with the probe); the
    walk (its listing was the probe): per local NIC its four keys and ``ipv6s`` (404)."""
    scenario = scenarios.generate(3, 2)
    scenario["aliyun"] = {"bulk": bulk, "tokens": "required"}  # its headers, or 401s
    emulator = make_emulator("aliyun", scenario)
    provider = aliyun.Aliyun(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)), {})
    provider.detect()
    with emulator.state.lock:
        emulator.state.requests = 0
    with caplog.at_level(logging.DEBUG):
        instance = provider.get_config({"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"})
    assert [(i.mac, i.index, i.addresses, i.subnet, i.gateway)
            for i in instance.interfaces] == [
        ("02:00:00:00:00:01", 0, ("172.31.16.10", "172.31.16.11"), "172.31.16.0/20",
         "172.31.16.1"),
        ("02:00:00:00:00:02", 1, ("172.31.32.10", "172.31.32.11"), "172.31.32.0/20",
         "172.31.32.1")]
    assert instance.unmatched == ("02:00:00:00:00:03",) and not instance.failed
    assert instance.provider == "aliyun" and emulator.state.requests == requests
    mac = "02:00:00:00:00:0{}".format
    assert [r.getMessage() for r in caplog.records if "fetching meta data" in r.getMessage()] == [
        f"get-config: start fetching meta data for #0, {mac(1)} ({text.format(mac=mac(1))})",
        f"get-config: start fetching meta data for #1, {mac(2)} ({text.format(mac=mac(2))})",
        f"get-config: skip fetching meta data for {mac(3)} ({text.format(mac=mac(3))})"]


# -- the words: the errors and the warnings, whole -------------------------------------

@pytest.mark.parametrize("body, message", [
    ("<html>", "the Aliyun meta-data/all document is not valid JSON (Expecting value: line 1 "
               "column 1 (char 0))"),
    ('{"network": {}}', "meta-data/all has no network.interfaces.macs"),
    ('{"network": {"interfaces": {"macs": []}}}', "meta-data/all lists no interfaces"),
])
def test_aliyun_bad_documents_say_what_is_wrong(body, message):
    with pytest.raises(MetadataError) as err:
        aliyun.parse_all(body)
    assert str(err.value) == message


@pytest.mark.parametrize("change, warnings", [
    ({"primary-ip-address": None, "gateway": None}, [
        "get-config: 00:16:3E:14:59:58: primary-ip-address is not given; going without it",
        "get-config: 00:16:3E:14:59:58: gateway is not given; going without it"]),
    ({"primary-ip-address": "nope", "gateway": "127.0.0.1"}, [
        "get-config: 00:16:3E:14:59:58: primary-ip-address: invalid IPv4 address 'nope'; "
        "going without it",
        "get-config: 00:16:3E:14:59:58: gateway: IPv4 gateway 127.0.0.1 cannot be assigned to "
        "a NIC; going without it"]),
])
def test_aliyun_lenient_values_are_warned_of_whole(change, warnings, caplog):
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    aliyun.interface_from(0, "00:16:3E:14:59:58", {**values, **change})
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == warnings


@pytest.mark.parametrize("value, expected", [
    ("[10.0.0.2, 10.0.0.1]", ["10.0.0.2", "10.0.0.1"]),  # bracketed, not JSON: upstream's
    ('["10.0.0.2", 10.0.0.1]', ["10.0.0.2", "10.0.0.1"]),
    ("10", ["10"]),  # one item, not read as JSON (its address check fails it later)
])
def test_aliyun_ip_lists_that_are_no_json(value, expected):
    assert aliyun.parse_ip_list(value) == expected


def test_aliyun_shapes_that_are_no_list_or_object_say_so():
    with pytest.raises(MetadataError) as err:
        aliyun.parse_ip_list([5])
    assert str(err.value) == "private-ipv4s is not a list of addresses"
    with pytest.raises(MetadataError) as err:
        aliyun.interface_from(0, "00:16:3E:14:59:58", "10.0.0.4")
    assert str(err.value) == "the interface's entry is not an object"


def test_aliyun_primary_first_the_others_in_numeric_order_and_the_interface_id(caplog):
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    nic = aliyun.interface_from(0, "00:16:3E:14:59:58", {
        **values, "primary-ip-address": "172.16.101.215", "network-interface-id": "eni-1",
        "private-ipv4s": ["172.16.101.10", "172.16.101.9", "172.16.200.1", "172.16.101.215"]})
    assert nic.addresses == ("172.16.101.215", "172.16.101.9", "172.16.101.10", "172.16.200.1")
    assert nic.interface_id == "eni-1"
    assert [r.getMessage() for r in caplog.records] == [
        "get-config: 00:16:3E:14:59:58: address 172.16.200.1 is outside the NIC's subnet "
        "172.16.101.0/24; adding it with the subnet's prefix, as upstream does"]
    assert aliyun.interface_from(0, "00:16:3E:14:59:58", {
        **values, "network-interface-id": 7}).interface_id is None


def test_aliyun_the_primary_alone_or_no_address_at_all():
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    alone = aliyun.interface_from(0, "00:16:3E:14:59:58", {**values, "private-ipv4s": []})
    assert alone.addresses == (values["primary-ip-address"],)
    with pytest.raises(MetadataError) as err:
        aliyun.interface_from(0, "00:16:3E:14:59:58", {**values, "private-ipv4s": [],
                                                       "primary-ip-address": None})
    assert str(err.value) == "private-ipv4s lists no address"


def test_aliyun_document_skips_the_foreign_and_the_garbled_nics_and_keeps_looking(caplog):
    """Of the document fetched while detecting (here set, so nothing is asked): a foreign
    NIC and an unreadable MAC listed first are skipped, each in upstream's line; a local
    NIC with a bad value is that NIC's error, at its place in the list."""
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    provider = aliyun.Aliyun(HttpClient("http://127.0.0.1:9"))  # asked nothing
    provider._document = json.dumps({"network": {"interfaces": {"macs": {
        "00:16:3e:aa:bb:cc": values, "nonsense": {}, "00:16:3e:14:59:58": values,
        "00:16:3e:00:00:02": {**values, "netmask": None}}}}})
    with caplog.at_level(logging.DEBUG, logger="nm_cloud_setup.providers.aliyun"):
        instance = provider.get_config({"00:16:3E:14:59:58": "eth0", "00:16:3E:00:00:02": "eth1"})
    assert [(i.mac, i.index, i.error) for i in instance.interfaces] == [
        ("00:16:3E:14:59:58", 2, None), ("00:16:3E:00:00:02", 3, "netmask is missing")]
    assert (instance.provider, instance.unmatched) == ("aliyun", ("00:16:3E:AA:BB:CC",))
    assert [r.getMessage() for r in caplog.records] == [
        "get-config: skip fetching meta data for 00:16:3E:AA:BB:CC (00:16:3e:aa:bb:cc)",
        "get-config: skip fetching meta data for nonsense (nonsense)",
        "get-config: start fetching meta data for #2, 00:16:3E:14:59:58 (00:16:3e:14:59:58)",
        "get-config: start fetching meta data for #3, 00:16:3E:00:00:02 (00:16:3e:00:00:02)"]


@pytest.mark.parametrize("listing, requests", [
    ("02:00:00:00:00:01\n02:00:00:00:00:02\n", 10),  # no trailing slashes: the same walk
    ("02:00:00:00:00:01/\n", 1 + 10)])  # a local NIC missing: the listing asked again
def test_aliyun_walk_of_other_listings(make_emulator, listing, requests):
    scenario = scenarios.generate(2, 2)
    scenario["aliyun"] = {"bulk": False}
    emulator = make_emulator("aliyun", scenario)
    with emulator.state.lock:  # the probe's listing, while detecting
        emulator.state.rules = [{"match": "interfaces/macs/", "status": 200, "times": 1,
                                 "body": listing}]
    provider = aliyun.Aliyun(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)), {})
    provider.detect()
    with emulator.state.lock:
        emulator.state.requests = 0
    instance = provider.get_config({"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"})
    assert [i.addresses for i in instance.interfaces] == [
        ("172.31.16.10", "172.31.16.11"), ("172.31.32.10", "172.31.32.11")]
    assert emulator.state.requests == requests
