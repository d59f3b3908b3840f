"""GCP (providers/gcp.py): the network interfaces, bad documents, forwarded IPs, and the
IPv6 ones."""

from __future__ import annotations

import logging

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import gcp
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from nm_cloud_setup.providers.registry import provider_class
from tests.support.parsers import sample


def test_gcp_interfaces():
    nics = gcp.parse_interfaces(sample("gcp_network_interfaces.json"))
    first = gcp.interface_from(0, "42:01:0A:80:00:02", nics[0], {})
    assert first.local_routes == ("35.10.0.1/32", "35.10.0.2/32", "10.8.0.0/24")
    assert first.addresses == () and first.valid
    second = gcp.interface_from(1, "42:01:0A:82:00:02", nics[1], {})
    assert second.local_routes == ("35.20.0.9/32",)  # the document's targetInstanceIps
    second = gcp.interface_from(1, "42:01:0A:82:00:02", nics[1], {"target_instance_ips": False})
    assert second.local_routes == () and not second.valid and second.error is None
    aliases = gcp.interface_from(0, "42:01:0A:80:00:02", nics[0], {"alias_ips": False})
    assert aliases.local_routes == ("35.10.0.1/32", "35.10.0.2/32")


@pytest.mark.parametrize("body, message", [
    ("{}", "not a list"),
    ('[{"ip": "10.0.0.2"}]', "has no 'mac'"),
    ('[{"mac": "42:01:0a:80:00:02", "forwardedIps": "35.1.1.1"}]', "not a list of strings"),
])
def test_gcp_bad_documents(body, message):
    with pytest.raises(MetadataError, match=message):
        gcp.parse_interfaces(body)


@pytest.mark.parametrize("value", ["35.1.1.999", "127.0.0.1", "224.0.0.1/32", "10.0.0.0/4"])
def test_gcp_bad_forwarded_ips(value):
    with pytest.raises(MetadataError):
        gcp.interface_from(0, "42:01:0A:80:00:02", {"forwardedIps": [value]}, {})


# -- IPv6 ----------------------------------------------------------------------

def test_gcp_forwarded_ipv6_ranges_are_local_routes_and_ipv6s_recorded():
    (entry,) = gcp.parse_interfaces(sample("gcp_network_interfaces_ipv6.json"))
    nic = gcp.interface_from(0, "42:01:0A:80:00:02", entry, {})
    assert nic.local_routes == ("35.10.0.1/32", "2600:1900:4010:61::/96")
    assert nic.ipv6_addresses == ("2600:1900:4000:1d5f:0:1::",) and nic.ipv6_subnet is None


def test_gcp_forwarded_ipv6_ranges_switch_with_the_forwarded_ips():
    (entry,) = gcp.parse_interfaces(sample("gcp_network_interfaces_ipv6.json"))
    nic = gcp.interface_from(0, "42:01:0A:80:00:02", entry, {"forwarded_ips": False})
    assert nic.local_routes == ()


@pytest.mark.parametrize("key, value, message", [
    ("forwardedIpv6s", ["35.1.1.1"], "IPv4 where an IPv6 forwarded IP belongs"),
    ("forwardedIpv6s", ["2600:1900::/129"], "invalid IPv6 forwarded IP"),
    ("forwardedIpv6s", ["fe80::/64"], "cannot be delivered"),
    ("ipv6s", ["10.128.0.2"], "IPv4 address where an IPv6"),
    ("ipv6s", "2600:1900::1", "not a list"),
])
def test_gcp_bad_ipv6_values(key, value, message):
    with pytest.raises(MetadataError, match=message):
        gcp.interface_from(0, "42:01:0A:80:00:02", {key: value}, {})


# -- a whole run against the emulator: what it finds, and upstream's lines for it --------

@pytest.mark.parametrize("bulk", [True, False])
def test_gcp_get_config_finds_the_local_nics_with_upstreams_lines(make_emulator, caplog, bulk):
    """The lines are upstream's words (tests/e2e/test_upstream.py checks them against its
    binary); here they pin which NIC each is said of."""
    scenario = scenarios.generate(3, 2)
    scenario["interfaces"][0]["forwarded_ips"] = ["35.1.2.3"]
    scenario["gcp"] = {"bulk": bulk}
    emulator = make_emulator("gcp", scenario)
    cls = provider_class("gcp")
    provider = cls(HttpClient(emulator.url, headers=cls.headers, policy=RetryPolicy(attempts=1),
                              rate=cls.rate), {})
    provider.detect()
    with caplog.at_level(logging.INFO, logger="nm_cloud_setup.providers.gcp"):
        instance = provider.get_config({"02:00:00:00:00:01": "eth1",
                                        "02:00:00:00:00:02": "eth2"})
    assert [(i.mac, i.index, i.local_routes) for i in instance.interfaces] == [
        ("02:00:00:00:00:01", 0, ("35.1.2.3/32",)), ("02:00:00:00:00:02", 1, ())]
    assert instance.unmatched == ("02:00:00:00:00:03",)
    assert [r.getMessage() for r in caplog.records
            if r.name == "nm_cloud_setup.providers.gcp"] == [
        "found GCP interfaces: 3",
        "GCP interface[0]: found a requested device with hwaddr 02:00:00:00:00:01",
        "GCP interface[1]: found a requested device with hwaddr 02:00:00:00:00:02",
        "GCP interface[2]: found a device with hwaddr 02:00:00:00:00:03",
        "GCP interface[0]: found 1 forwarded ips",
        "GCP interface[0]: adding forwarded-ip 35.1.2.3",
        "GCP interface[1]: found 0 forwarded ips"]


# -- the MTU -------------------------------------------------------------------

def test_gcp_mtu_is_the_nics():
    nics = gcp.parse_interfaces(sample("gcp_network_interfaces.json"))
    assert gcp.interface_from(0, "42:01:0A:80:00:02", nics[0], {}).mtu == 1460
    assert gcp.interface_from(0, "42:01:0A:80:00:02", {"mtu": "8896"}, {}).mtu == 8896
    assert gcp.interface_from(0, "42:01:0A:80:00:02", {}, {}).mtu is None


@pytest.mark.parametrize("nic, message", [
    ({"mtu": "jumbo"}, "not a number"),
    ({"mtu": 1460.5}, "not a number"),
    ({"mtu": True}, "not a number"),
    ({"mtu": 575}, "576 to 65535"),
    ({"mtu": 65536}, "576 to 65535"),
    ({"mtu": 1279, "ipv6s": ["2600:1900:4000:1::2"]}, "with IPv6 it must be 1280"),
    ({"mtu": 1279, "forwardedIpv6s": ["2600:1900:4000:2::/96"]}, "with IPv6"),
])
def test_gcp_bad_mtus_are_the_nics_error(nic, message):
    with pytest.raises(MetadataError, match=message):
        gcp.interface_from(0, "42:01:0A:80:00:02", nic, {})


def test_gcp_a_bad_mtu_leaves_that_nic_alone_only(make_emulator):
    scenario = scenarios.generate(2, 1)
    scenario["interfaces"][0]["mtu"] = 99
    scenario["interfaces"][1]["mtu"] = 1500
    emulator = make_emulator("gcp", scenario)
    provider = gcp.Gcp(HttpClient(emulator.url, gcp.Gcp.headers, policy=RetryPolicy(attempts=1)))
    provider.detect()
    macs = {i["mac"].upper(): f"eth{n}" for n, i in enumerate(scenario["interfaces"])}
    first, second = provider.get_config(macs).interfaces
    assert "invalid MTU 99" in first.error and first.mtu is None
    assert second.error is None and second.mtu == 1500
