"""network_data.json's errors (providers/network_data.py), their words whole: a bad
document raises; a link whose data is bad is returned failed, at its own MAC and index
(it keeps its configuration), the other links read on."""

from __future__ import annotations

import pytest

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers.network_data import parse_network_data
from tests.unit.providers.test_network_data import MAC1, MAC2, bond, ipv4, ipv6, link, parse, vlan


@pytest.mark.parametrize("text, message", [
    ("", "network_data.json is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ('{"links": {}, "networks": []}', "network_data.json has no 'links' and 'networks' lists"),
    ('{"links": [], "networks": {}}', "network_data.json has no 'links' and 'networks' lists"),
    ("[]", "network_data.json has no 'links' and 'networks' lists"),
])
def test_a_bad_document_raises(text, message):
    with pytest.raises(MetadataError) as caught:
        parse_network_data(text, {MAC1: "eth0"})
    assert str(caught.value) == message


def route(network="0.0.0.0", netmask="0.0.0.0", gateway="10.0.1.1") -> dict:
    return {"network": network, "netmask": netmask, "gateway": gateway}


LONG = "a" * 50

# The second NIC's networks, and what it fails with (the first NIC reads on).
BAD_NETWORKS = [
    ([dict(ipv4(2, "10.0.1.5"), ip_address=None)],
     "network: 'ip_address' is missing or not a str"),
    ([dict(ipv4(2, "10.0.1.5"), netmask=24)], "network: 'netmask' is missing or not a str"),
    ([ipv4(2, "10.0.1.5"), dict(ipv4(2, "10.0.1.6"), ip_address=6)],
     "network: 'ip_address' is missing or not a str"),
    ([ipv4(2, "10.0.1.5"), dict(ipv4(2, "10.0.1.6"), netmask=None)],
     "network: 'netmask' is missing or not a str"),
    ([dict(ipv4(2, "10.0.1.5"), routes="0.0.0.0/0")], "a network's 'routes' is not a list"),
    ([dict(ipv4(2, "10.0.1.5"), routes=[route(network=None)])],
     "route: 'network' is missing or not a str"),
    ([dict(ipv4(2, "10.0.1.5"), routes=[route(netmask=0)])],
     "route: 'netmask' is missing or not a str"),
    ([dict(ipv4(2, "10.0.1.5"), routes=[route(gateway=None)])],
     "route: 'gateway' is missing or not a str"),
    ([dict(ipv4(2, "10.0.1.5"), routes=[route(gateway="10.0.1")])],
     "invalid IPv4 gateway '10.0.1'"),
    ([dict(ipv4(2, "10.0.1.5"), routes=[route(network=LONG, netmask=LONG + "b")])],
     f"invalid route {LONG[:40]}/{LONG[:40]}"),
    ([dict(ipv6(2, "2001:db8::5"), ip_address=None)],
     "network: 'ip_address' is missing or not a str"),
    ([dict(ipv6(2, "2001:db8::5"), netmask=None)], "invalid IPv6 prefix length or netmask ''"),
    ([dict(ipv6(2, "2001:db8::5"), netmask=["64"])], "invalid IPv6 prefix length or netmask ''"),
    ([dict(ipv6(2, "2001:db8::5"), routes=[route(network=None, gateway="fe80::1")])],
     "route: 'network' is missing or not a str"),
    ([dict(ipv6(2, "2001:db8::5"), routes=[route(netmask=64, gateway="fe80::1")])],
     "route: 'netmask' is missing or not a str"),
    ([dict(ipv6(2, "2001:db8::5"), routes=[route(netmask="::", gateway=None)])],
     "route: 'gateway' is missing or not a str"),
    ([dict(ipv6(2, "2001:db8::5"), routes=[route("2001:db8:1::zz", "64", "fe80::1")])],
     "invalid IPv6 route network '2001:db8:1::zz'"),
]


@pytest.mark.parametrize("networks, message", BAD_NETWORKS)
def test_a_nic_with_bad_networks_fails_alone(networks, message):
    nics = parse([link(1), link(2)], [ipv4(1, "10.0.0.5")] + networks)
    assert [(n.mac, n.index, n.error) for n in nics] == [(MAC1, 0, None), (MAC2, 1, message)]


def test_the_mtu_must_carry_ipv6_when_the_nic_has_ipv6():
    # 1000 is an MTU for IPv4 only (576..); a NIC with IPv6, static or not, needs 1280
    dhcp6 = dict(ipv6(1, "2001:db8::5"), type="ipv6_slaac")
    for networks, error in [
            ([ipv4(1, "10.0.0.5")], None),
            ([ipv4(1, "10.0.0.5"), dhcp6], "invalid MTU 1000: with IPv6 it must be 1280 to 65535"),
            ([ipv6(1, "2001:db8::5")], "invalid MTU 1000: with IPv6 it must be 1280 to 65535")]:
        (nic,) = parse([link(1, mtu=1000)], networks)
        assert (nic.error, nic.mtu) == (error, 1000 if error is None else None)


# -- VLANs and bonds: the link's own data is named with it ---------------------------

@pytest.mark.parametrize("entry, message", [
    (vlan(5, "link1", vlan_id=0), "vlan link5: vlan_id 0 is not 1..4094"),
    (vlan(5, "link1", vlan_id=4095), "vlan link5: vlan_id 4095 is not 1..4094"),
    (vlan(5, "link1", vlan_id="42"), "vlan link5: vlan link: 'vlan_id' is missing or not a int"),
    (vlan(5, None), "vlan link5: vlan link: 'vlan_link' is missing or not a str"),
    (bond(5, "link1"), "bond link5: bond link: 'bond_links' is missing or not a list"),
])
def test_a_bad_virtual_link_fails_alone_and_the_next_is_made(entry, message):
    nics = parse([link(1), link(2), entry, vlan(6, "link2", vlan_id=6)],
                 [ipv4(5, "10.0.5.5"), ipv4(6, "10.0.6.5")])
    assert [(n.mac, n.index, n.error) for n in nics] == [
        (normalize(entry), 2, message), ("FA:16:3E:00:01:06", 3, None)]
    assert nics[1].link.ifname == "eth1.6"


def normalize(entry: dict) -> str:
    return entry.get("vlan_mac_address", entry.get("ethernet_mac_address")).upper()


@pytest.mark.parametrize("vlan_id", [1, 4094])
def test_the_vlan_ids_at_the_ends_are_made(vlan_id):
    (nic,) = parse([link(1), vlan(5, "link1", vlan_id=vlan_id)], [ipv4(5, "10.0.5.5")])
    assert (nic.error, nic.link.vlan_id, nic.link.ifname) == (None, vlan_id, f"eth0.{vlan_id}")


def test_a_virtual_link_whose_networks_are_bad_fails_at_its_mac_and_index():
    bad = dict(ipv4(5, "10.0.5.5"), ip_address="10.0.5")
    nics = parse([link(1), vlan(5, "link1"), vlan(6, "link1", vlan_id=6)],
                 [bad, ipv4(6, "10.0.6.5")])
    assert [(n.mac, n.index, n.error) for n in nics] == [
        ("FA:16:3E:00:01:05", 1, "invalid IPv4 address '10.0.5'"),
        ("FA:16:3E:00:01:06", 2, None)]
