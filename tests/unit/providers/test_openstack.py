"""OpenStack (providers/openstack.py): network_data.json as the provider reads it, bad
links and documents, static IPv6 networks.  Every link and network type:
test_network_data.py."""

from __future__ import annotations

import json

import pytest

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import openstack
from tests.support.parsers import sample


def test_openstack_network_data():
    macs = {"FA:16:3E:00:00:01": "eth0", "FA:16:3E:00:00:02": "eth1"}
    (nic,) = openstack.parse_network_data(sample("openstack_network_data.json"), macs)
    assert nic.addresses == ("192.168.10.5", "192.168.10.6")
    assert (nic.subnet, nic.gateway, nic.mtu) == ("192.168.10.0/24", "192.168.10.1", 1450)
    assert nic.routes == (("10.200.0.0/16", "192.168.10.254"),)


@pytest.mark.parametrize("change, message", [
    ({"mtu": 70000}, "invalid MTU"),
    ({"mtu": "1500"}, "invalid MTU"),
])
def test_openstack_bad_links(change, message):
    doc = json.loads(sample("openstack_network_data.json"))
    doc["links"][0].update(change)
    (nic,) = openstack.parse_network_data(json.dumps(doc), {"FA:16:3E:00:00:01": "eth0"})
    assert message in nic.error


def test_openstack_bad_documents():
    with pytest.raises(MetadataError, match="no 'links'"):
        openstack.parse_network_data('{"links": {}}', {})


# -- IPv6 ----------------------------------------------------------------------

def test_openstack_static_ipv6_networks():
    macs = {"FA:16:3E:00:00:01": "eth0", "FA:16:3E:00:00:02": "eth1"}
    first, second = openstack.parse_network_data(sample("openstack_network_data_ipv6.json"), macs)
    assert first.addresses == ("192.168.10.5",)
    assert first.ipv6_addresses == ("2001:db8:10::5", "2001:db8:10::6")
    assert (first.ipv6_subnet, first.ipv6_gateway) == ("2001:db8:10::/64",
                                                       "fe80::f816:3eff:fe00:1")
    assert first.routes == (("2001:db8:200::/48", "2001:db8:10::fe"),)
    # An IPv6-only link: its static network, the SLAAC one left to the link.
    assert (second.addresses, second.ipv6_addresses) == ((), ("2001:db8:20::5",))


@pytest.mark.parametrize("change, message", [
    ({"ip_address": "192.168.10.7"}, "IPv4 address where an IPv6"),
    ({"ip_address": "2001:db8:10::zz"}, "invalid IPv6 address"),
    ({"netmask": "ffff:0:ffff::"}, "invalid IPv6 prefix length or netmask"),
    ({"netmask": "200"}, "not usable"),
])
def test_openstack_bad_ipv6_networks(change, message):
    doc = json.loads(sample("openstack_network_data_ipv6.json"))
    doc["networks"][1].update(change)
    (nic,) = openstack.parse_network_data(json.dumps(doc), {"FA:16:3E:00:00:01": "eth0"})
    assert message in nic.error
