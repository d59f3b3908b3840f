"""What network_data.json's reading leaves out (providers/network_data.py), and what it
says of it (the warning and info lines whole): an entry left out never stops the
reading of the ones after it."""

from __future__ import annotations

import logging

import pytest

from tests.unit.providers.test_network_data import MAC1, MAC2, bond, ipv4, ipv6, link, parse, vlan

LOGGER = "nm_cloud_setup.providers.network_data"


def said(caplog) -> list:
    """The lines at info level and above, with their levels."""
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]


# -- links, networks, services -----------------------------------------------------

@pytest.mark.parametrize("odd", ["link0", None, {"id": "link0", "type": "phy"},
                                 {"id": "link0", "ethernet_mac_address": "fa:16:3e"}])
def test_a_link_that_is_no_object_or_has_no_mac_is_skipped(odd):
    nics = parse([link(1), odd, link(2)], [ipv4(1, "10.0.0.5"), ipv4(2, "10.0.1.5")])
    assert [(n.mac, n.index, n.addresses) for n in nics] == [(MAC1, 0, ("10.0.0.5",)),
                                                            (MAC2, 1, ("10.0.1.5",))]


@pytest.mark.parametrize("odd", ["net", None, 7])
def test_a_network_that_is_no_object_is_skipped(odd):
    (nic,) = parse([link(1)], [odd, ipv4(1, "10.0.0.5")])
    assert (nic.addresses, nic.error) == (("10.0.0.5",), None)


def test_a_service_that_is_no_name_server_is_skipped():
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5")],
                   ["dns", {"type": "ntp", "address": "10.0.0.9"},
                    {"type": "dns", "address": "10.0.0.53"}])
    assert nic.dns == ("10.0.0.53",)


def test_bad_name_servers_are_named_and_the_next_ones_kept(caplog):
    services = [{"type": "dns", "address": "10.0.0.300"}, {"type": "dns"},
                {"type": "dns", "address": " 10.0.0.53 "}]
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5")], services)
    assert nic.dns == ("10.0.0.53",)
    assert said(caplog) == [
        ("WARNING", "openstack: name server '10.0.0.300' is not an address: left out"),
        ("WARNING", "openstack: name server None is not an address: left out")]


def test_services_that_are_no_list_are_said_so(caplog):
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5", services={"type": "dns"})])
    assert nic.dns == ()
    assert said(caplog) == [
        ("WARNING", "openstack: 'services' is not a list: no name servers from it")]


# -- addresses in another subnet than the link's first --------------------------------

def test_an_ipv4_address_in_another_subnet_is_left_out_and_named(caplog):
    other = dict(ipv4(1, "10.0.9.5"), routes=[])
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5"), other, ipv4(1, "10.0.0.6")])
    assert (nic.addresses, nic.subnet, nic.error) == (("10.0.0.5", "10.0.0.6"), "10.0.0.0/24",
                                                      None)
    assert said(caplog) == [("WARNING", "openstack: 10.0.9.5 of FA:16:3E:00:00:01 is in another "
                                        "subnet than 10.0.0.0/24: not configured")]


def test_an_ipv6_address_in_another_subnet_is_left_out_and_named(caplog):
    (nic,) = parse([link(1)], [ipv6(1, "2001:db8::5"), ipv6(1, "2001:db8:9::5"),
                               ipv6(1, "2001:db8::6")])
    assert (nic.ipv6_addresses, nic.ipv6_subnet) == (("2001:db8::5", "2001:db8::6"),
                                                     "2001:db8::/64")
    assert said(caplog) == [("WARNING", "openstack: 2001:db8:9::5 of FA:16:3E:00:00:01 is in "
                                        "another subnet than 2001:db8::/64: not configured")]


# -- VLANs and bonds -------------------------------------------------------------------

def test_a_virtual_link_without_a_mac_is_named_and_the_next_made(caplog):
    no_mac = dict(vlan(5, "link1"), vlan_mac_address="none")
    bond_no_mac = dict(bond(6, ["link1"]), ethernet_mac_address=None)
    nics = parse([link(1), no_mac, bond_no_mac, vlan(7, "link1", vlan_id=7)],
                 [ipv4(5, "10.0.5.5"), ipv4(6, "10.0.6.5"), ipv4(7, "10.0.7.5")])
    assert [(n.mac, n.index, n.link.ifname) for n in nics] == [("FA:16:3E:00:01:07", 3,
                                                                "eth0.7")]
    assert said(caplog) == [("WARNING", "openstack: vlan link link5 has no MAC address: ignored"),
                            ("WARNING", "openstack: bond link link6 has no MAC address: ignored")]


def test_a_vlan_on_no_local_nic_is_named_and_the_next_made(caplog):
    links = [link(1), link(2), vlan(5, "link2"), vlan(6, "link9", vlan_id=6),
             vlan(7, "link1", vlan_id=7)]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        nics = parse(links, [ipv4(n, f"10.0.{n}.5") for n in (5, 6, 7)], macs={MAC1: "eth0"})
    assert [(n.index, n.link.ifname) for n in nics] == [(4, "eth0.7")]
    assert said(caplog) == [
        ("INFO", "openstack: the parent link2 of VLAN 42 is no local NIC: not made"),
        ("INFO", "openstack: the parent link9 of VLAN 6 is no local NIC: not made")]


def test_bond_members_not_here_are_named(caplog):
    links = [link(1), link(2), link(3), bond(5, ["link3"]),
             bond(6, ["link9", "link1", "link2"])]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        (nic,) = parse(links, [ipv4(5, "10.0.5.5"), ipv4(6, "10.0.6.5")], macs={MAC2: "eth1"})
    assert (nic.index, nic.link.ifname, nic.link.members) == (4, "bond1", (MAC2,))
    assert said(caplog) == [
        ("INFO", "openstack: member link3 of bond0 is no local NIC: left out"),
        ("INFO", "openstack: bond0 has no local member: not made"),
        ("INFO", "openstack: member link9 of bond1 is no local NIC: left out"),
        ("INFO", "openstack: member link1 of bond1 is no local NIC: left out")]


def test_bond_options_of_no_kind_nm_takes_are_skipped():
    # the first ignored does not end the reading: those after it are taken
    entry = bond(5, ["link1"], bond_weird="x", bond_miimon=[100], bond_use_carrier=True,
                 bond_updelay=None, bond_downdelay=200, port_miimon=100, bond_primary="eth0")
    (nic,) = parse([link(1), entry], [ipv4(5, "10.0.5.5")])
    assert nic.link.options == (("downdelay", "200"), ("mode", "802.3ad"), ("primary", "eth0"))
