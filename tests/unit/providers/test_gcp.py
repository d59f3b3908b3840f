"""GCP (providers/gcp.py): the network interfaces, bad documents, forwarded IPs, and the
IPv6 ones."""

from __future__ import annotations

import pytest

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import gcp
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
