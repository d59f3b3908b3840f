"""Azure (providers/azure.py): the network document, bad documents and interfaces, the
walk's listings, and the IPv6 addresses."""

from __future__ import annotations

import logging

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import azure
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from tests.support.parsers import BAD_IPV6, sample


def test_azure_network():
    raw = azure.parse_network(sample("azure_network.json"))
    assert [r.mac for r in raw] == ["000D3A5D2D66", "000D3A5D2D67"]
    nic = azure.interface_from(0, "00:0D:3A:5D:2D:66", raw[0])
    assert (nic.addresses, nic.subnet, nic.gateway) == (("10.0.0.4", "10.0.0.5"), "10.0.0.0/24",
                                                        None)


@pytest.mark.parametrize("body, message", [
    ("{}", "no 'interface' list"),
    ('{"interface": [{"macAddress": "000D3A5D2D66"}]}', "lacks macAddress"),
    ("<html>", "not valid JSON"),
])
def test_azure_bad_documents(body, message):
    with pytest.raises(MetadataError, match=message):
        azure.parse_network(body)


@pytest.mark.parametrize("addresses, subnet, prefix, message", [
    ((), "10.0.0.0", "24", "no IPv4 address"),
    (("10.0.0.400",), "10.0.0.0", "24", "invalid IPv4 address"),
    (("10.0.0.4",), "10.0.0.0", "33", "invalid subnet prefix"),
    (("10.0.0.4",), "10.0.0.0", "x", "invalid subnet prefix"),
])
def test_azure_bad_interfaces(addresses, subnet, prefix, message):
    with pytest.raises(MetadataError, match=message):
        azure.interface_from(0, "00:0D:3A:5D:2D:66", azure.RawNic("x", addresses, subnet, prefix))


def test_azure_address_outside_the_subnet_is_kept(caplog):
    nic = azure.interface_from(0, "00:0D:3A:5D:2D:66",
                               azure.RawNic("x", ("10.0.0.4", "10.0.9.4"), "10.0.0.0", "24"))
    assert nic.addresses == ("10.0.0.4", "10.0.9.4") and nic.subnet == "10.0.0.0/24"
    assert "00:0D:3A:5D:2D:66: address 10.0.9.4 is outside the NIC's subnet 10.0.0.0/24" \
        in caplog.text


@pytest.mark.parametrize("text, numbers", [
    ("0/\n1/\n", [0, 1]), ("0\n\n2/\nfoo/\n-1\n", [0, 2]), ("", [])])
def test_walk_listings_skip_lines_that_are_no_number(text, numbers):
    assert azure.walk_numbers(text) == numbers


# -- IPv6 ----------------------------------------------------------------------

def test_azure_ipv6_addresses_in_a_64_via_the_fixed_link_local_router():
    (raw,) = azure.parse_network(sample("azure_network_dualstack.json"))
    nic = azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)
    assert nic.ipv6_addresses == ("ace:cab:deca:deed::4", "ace:cab:deca:deed::5")
    assert (nic.ipv6_subnet, nic.ipv6_gateway) == ("ace:cab:deca:deed::/64",
                                                   "fe80::1234:5678:9abc")


def test_azure_without_ipv6_object_or_addresses_has_no_ipv6():
    for ipv6_object in (None, {"ipAddress": []}, {}):
        raw = azure.RawNic("x", ("10.0.0.4",), "10.0.0.0", "24", ipv6_object)
        nic = azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)
        assert nic.ipv6_addresses == () and nic.ipv6_gateway is None


@pytest.mark.parametrize("value, message", BAD_IPV6 + [(7, "is not a string")])
def test_azure_bad_ipv6_addresses(value, message):
    raw = azure.RawNic("x", ("10.0.0.4",), "10.0.0.0", "24",
                       {"ipAddress": [{"privateIpAddress": value}]})
    with pytest.raises(MetadataError, match=message):
        azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)


@pytest.mark.parametrize("ipv6_object", [[], {"ipAddress": "ace::4"}, {"ipAddress": ["ace::4"]}])
def test_azure_bad_ipv6_shapes(ipv6_object):
    raw = azure.RawNic("x", ("10.0.0.4",), "10.0.0.0", "24", ipv6_object)
    with pytest.raises(MetadataError, match="ipv6.ipAddress"):
        azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)


# -- a whole run against the emulator: what it finds, its requests, upstream's lines ----

AZURE_LINES = [
    "found azure interfaces: 3",
    "interface[0]: found a matching device with hwaddr 02:00:00:00:00:01",
    "interface[1]: found a matching device with hwaddr 02:00:00:00:00:02",
    "interface[2]: found a matching device with hwaddr 02:00:00:00:00:03",
    "interface[0]: received address 172.31.16.10",
    "interface[0]: received address 172.31.16.11",
    "interface[0]: received subnet address 172.31.16.0",
    "interface[0]: received subnet prefix 20",
    "interface[1]: received address 172.31.32.10",
    "interface[1]: received address 172.31.32.11",
    "interface[1]: received subnet address 172.31.32.0",
    "interface[1]: received subnet prefix 20"]


def detected_azure(make_emulator, nics: int, ips: int, bulk: bool):
    """The emulator with ``nics`` x ``ips`` as Azure (the document in bulk, or walked), and
    a provider that has detected it (one try per request)."""
    scenario = scenarios.generate(nics, ips)
    scenario["azure"] = {"bulk": bulk}
    emulator = make_emulator("azure", scenario)
    provider = azure.Azure(HttpClient(emulator.url, headers=azure.Azure.headers,
                                      policy=RetryPolicy(attempts=1), rate=azure.Azure.rate), {})
    provider.detect()
    return emulator, provider


@pytest.mark.parametrize("bulk, requests", [(True, 0), (False, 15)])
def test_azure_get_config_finds_the_local_nics_with_upstreams_lines(make_emulator, caplog, bulk,
                                                                    requests):
    """The requests after detecting: none for the document (it came with the probe); the
    walk (its listing was the probe): three MACs, then per local NIC its address listing,
    two addresses, the subnet's address and prefix, and the IPv6 listing (404)."""
    emulator, provider = detected_azure(make_emulator, 3, 2, bulk)
    with emulator.state.lock:
        emulator.state.requests = 0
    with caplog.at_level(logging.DEBUG, logger="nm_cloud_setup.providers.azure"):
        instance = provider.get_config({"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"})
    assert [(i.mac, i.index, i.addresses, i.subnet) for i in instance.interfaces] == [
        ("02:00:00:00:00:01", 0, ("172.31.16.10", "172.31.16.11"), "172.31.16.0/20"),
        ("02:00:00:00:00:02", 1, ("172.31.32.10", "172.31.32.11"), "172.31.32.0/20")]
    assert instance.unmatched == ("02:00:00:00:00:03",) and not instance.failed
    assert emulator.state.requests == requests
    assert [r.getMessage() for r in caplog.records
            if r.name == "nm_cloud_setup.providers.azure"] == AZURE_LINES


def test_azure_a_second_walk_asks_for_the_listing_again(make_emulator):
    """The probe's listing is used once: a later run (the service's next loop) fetches
    it afresh, one request more than the first."""
    emulator, provider = detected_azure(make_emulator, 2, 1, bulk=False)
    found = []
    for _ in range(2):
        with emulator.state.lock:
            emulator.state.requests = 0
        instance = provider.get_config({"02:00:00:00:00:01": "eth1"})
        found.append(([(i.mac, i.addresses) for i in instance.interfaces],
                      emulator.state.requests))
    nics = [("02:00:00:00:00:01", ("172.31.16.10",))]
    assert found == [(nics, 2 + 5), (nics, 1 + 2 + 5)]  # MACs, then one NIC's five


def test_azure_a_walk_listing_no_interface_fails_the_run():
    provider = azure.Azure(HttpClient("http://127.0.0.1:9"), {})  # asked nothing
    provider.walking, provider.walk_start = True, "foo/\n"
    with pytest.raises(MetadataError) as err:
        provider.get_config({})
    assert str(err.value) == "no Azure interfaces found"


@pytest.mark.parametrize("addresses, subnet, prefix, ipv6, message", [
    ((), "10.0.0.0", "24", None, "no IPv4 address"),
    (("10.0.0.4",), "10.0.0.x", "24", None, "invalid IPv4 subnet address '10.0.0.x'"),
    (("10.0.0.4",), "10.0.0.0", "x", None, "invalid subnet prefix 'x'"),
    (("10.0.0.4",), "10.0.0.0", "0", None, "invalid subnet prefix 0"),
    (("10.0.0.4",), "10.0.0.0", "24", {"ipAddress": 5}, "ipv6.ipAddress is not a list of objects"),
])
def test_azure_bad_interfaces_say_what_is_wrong(addresses, subnet, prefix, ipv6, message):
    with pytest.raises(MetadataError) as err:
        azure.interface_from(0, "00:0D:3A:5D:2D:66",
                             azure.RawNic("x", addresses, subnet, prefix, ipv6))
    assert str(err.value) == message


def test_azure_prefixes_1_and_32_and_a_named_ipv6_subnet():
    for prefix, subnet in (("1", "0.0.0.0/1"), ("32", "10.0.0.4/32")):
        nic = azure.interface_from(0, "00:0D:3A:5D:2D:66",
                                   azure.RawNic("x", ("10.0.0.4",), "10.0.0.4", prefix))
        assert nic.subnet == subnet
    ipv6 = {"ipAddress": [{"privateIpAddress": "ace:cab:deca:deed::4"}],
            "subnet": [{"address": "ace:cab:deca::", "prefix": "48"}]}
    nic = azure.interface_from(3, "00:0D:3A:5D:2D:66",
                               azure.RawNic("x", ("10.0.0.4",), "10.0.0.0", "24", ipv6))
    assert (nic.index, nic.ipv6_subnet) == (3, "ace:cab:deca::/48")


@pytest.mark.parametrize("body, message", [
    ("{}", "the Azure network document has no 'interface' list"),
    ('{"interface": [{}]}', "Azure interface[0] lacks macAddress, ipv4.ipAddress or ipv4.subnet"),
    ("<html>", "the Azure network document is not valid JSON (Expecting value: line 1 column 1 "
               "(char 0))"),
])
def test_azure_bad_documents_say_what_is_wrong(body, message):
    with pytest.raises(MetadataError) as err:
        azure.parse_network(body)
    assert str(err.value) == message
