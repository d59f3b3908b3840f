"""OpenStack's network_data.json read (providers/network_data.py): every link and network
type, services, VLANs, bonds; and our reading next to cloud-init's own (Debian's package)."""

from __future__ import annotations

import json
import logging
import subprocess

import pytest

from nm_cloud_setup.emulator.openstack import network_data as emulated_network_data
from nm_cloud_setup.model import VirtualLink
from nm_cloud_setup.providers import network_data
from nm_cloud_setup.providers.network_data import dhcp_macs, named_macs, parse_network_data
from tests.support.cloud_init import DEBIAN_PYTHON, need_cloud_init

MAC1, MAC2, MAC3, MAC4 = ("FA:16:3E:00:00:01", "FA:16:3E:00:00:02", "FA:16:3E:00:00:03",
                          "FA:16:3E:00:00:04")
LOCAL = {MAC1: "eth0", MAC2: "eth1", MAC3: "eth2", MAC4: "eth3"}


def link(number: int, kind="phy", **extra) -> dict:
    return {"id": f"link{number}", "type": kind,
            "ethernet_mac_address": f"fa:16:3e:00:00:0{number}", "mtu": 1500, **extra}


def ipv4(number: int, address: str, kind="ipv4", **extra) -> dict:
    return {"id": f"net-{address}", "link": f"link{number}", "type": kind,
            "ip_address": address, "netmask": "255.255.255.0", "network_id": "n",
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                        "gateway": address.rsplit(".", 1)[0] + ".1"}], **extra}


def ipv6(number: int, address: str, kind="ipv6", **extra) -> dict:
    return {"id": f"net-{address}", "link": f"link{number}", "type": kind,
            "ip_address": address, "netmask": "ffff:ffff:ffff:ffff::", "network_id": "n6",
            "routes": [], **extra}


def parse(links, networks, services=(), macs=LOCAL):
    return parse_network_data(json.dumps({"links": links, "networks": networks,
                                          "services": list(services)}), macs)


# -- links -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(network_data.NIC_TYPES) + [None])
def test_every_nic_link_type_is_a_nic(kind):
    entry = link(1, kind)
    if kind is None:
        del entry["type"]
    (nic,) = parse([entry], [ipv4(1, "10.0.0.5")])
    assert (nic.mac, nic.addresses, nic.ipv4_method, nic.link) == (MAC1, ("10.0.0.5",),
                                                                   "manual", None)
    assert nic.interface_id == "link1"


@pytest.mark.parametrize("kind", ["infiniband", "linux_bridge", "", ["phy"], 7])
def test_an_unknown_link_type_is_ignored_with_a_debug_line(kind, caplog):
    with caplog.at_level(logging.DEBUG, logger="nm_cloud_setup.providers.network_data"):
        nics = parse([link(1, kind), link(2)], [ipv4(1, "10.0.0.5"), ipv4(2, "10.0.1.5")])
    assert [(n.mac, n.error) for n in nics] == [(MAC2, None)]
    assert "has the unknown type" in caplog.text and "ignored" in caplog.text
    assert nics[0].index == 1  # the ignored link keeps its place: indexes stay stable


# -- networks --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ipv4", "static"])
def test_static_ipv4_networks(kind):
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5", kind), ipv4(1, "10.0.0.6", kind)])
    assert (nic.addresses, nic.subnet, nic.gateway) == (("10.0.0.5", "10.0.0.6"),
                                                        "10.0.0.0/24", "10.0.0.1")
    assert (nic.ipv4_method, nic.ipv6_method, nic.static) == ("manual", None, True)


@pytest.mark.parametrize("kind", ["ipv6", "static6"])
def test_static_ipv6_networks(kind):
    (nic,) = parse([link(1)], [ipv6(1, "2001:db8::5", kind)])
    assert (nic.ipv6_addresses, nic.ipv6_subnet) == (("2001:db8::5",), "2001:db8::/64")
    assert (nic.ipv4_method, nic.ipv6_method, nic.static) == (None, "manual", True)


def test_a_nic_of_dhcp_networks_only_is_left_to_them():
    assert parse([link(1)], [{"id": "n", "link": "link1", "type": "ipv4_dhcp",
                              "network_id": "x"}]) == []


@pytest.mark.parametrize("kind", ["ipv6_dhcp", "ipv6_slaac", "ipv6_dhcpv6-stateful",
                                  "ipv6_dhcpv6-stateless"])
def test_dynamic_ipv6_types_leave_ipv6_to_the_link(kind):
    # Nova lists the address on the SLAAC and DHCPv6 types too: it is not configured
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5"), ipv6(1, "2001:db8::5", kind)])
    assert (nic.ipv4_method, nic.ipv6_method, nic.ipv6_addresses) == ("manual", "auto", ())
    assert nic.static


def test_static_and_dhcp_ipv4_on_one_link_is_dhcp_plus_addresses():
    dhcp = {"id": "n", "link": "link1", "type": "ipv4_dhcp", "network_id": "x"}
    (nic,) = parse([link(1)], [dhcp, ipv4(1, "10.0.0.5")])
    assert (nic.ipv4_method, nic.addresses, nic.static) == ("auto", ("10.0.0.5",), False)


@pytest.mark.parametrize("kind", ["ipv7", "IPV4", None, ["ipv4"], 4])
def test_an_unknown_network_type_is_ignored_with_a_debug_line(kind, caplog):
    odd = dict(ipv4(1, "10.0.0.9"), type=kind)
    with caplog.at_level(logging.DEBUG, logger="nm_cloud_setup.providers.network_data"):
        (nic,) = parse([link(1)], [odd, ipv4(1, "10.0.0.5")])
    assert (nic.addresses, nic.error) == (("10.0.0.5",), None)
    assert "has the unknown type" in caplog.text


def test_a_link_of_unknown_networks_only_gives_nothing():
    assert parse([link(1)], [dict(ipv4(1, "10.0.0.5"), type="ipv9")]) == []


# -- name servers ------------------------------------------------------------------

def test_name_servers_network_then_route_then_global_ipv4_first():
    net = ipv4(1, "10.0.0.5", services=[{"type": "dns", "address": "2001:db8::53"},
                                          {"type": "dns", "address": "10.0.0.53"}])
    net["routes"][0]["services"] = [{"type": "dns", "address": "10.0.0.54"}]
    (nic,) = parse([link(1)], [net], [{"type": "dns", "address": "8.8.8.8"},
                                      {"type": "dns", "address": "10.0.0.53"}])
    assert nic.dns == ("10.0.0.53", "10.0.0.54", "8.8.8.8", "2001:db8::53")


def test_name_servers_are_a_static_links_only():
    dhcp4 = {"id": "n", "link": "link1", "type": "ipv4_dhcp", "network_id": "x"}
    (nic,) = parse([link(1)], [dhcp4, ipv6(1, "2001:db8::5")],
                   [{"type": "dns", "address": "8.8.8.8"}])
    assert nic.dns == ("8.8.8.8",)  # its static IPv6 network's; but it is not "static"
    assert not nic.static


@pytest.mark.parametrize("services, warning", [
    ([{"type": "dns", "address": "not-an-address"}], "is not an address"),
    ([{"type": "dns"}], "is not an address"),
    ({"type": "dns"}, "'services' is not a list"),
])
def test_bad_name_servers_are_left_out_with_a_warning(services, warning, caplog):
    doc = {"links": [link(1)], "networks": [ipv4(1, "10.0.0.5")], "services": services}
    (nic,) = parse_network_data(json.dumps(doc), LOCAL)
    assert (nic.dns, nic.addresses, nic.error) == ((), ("10.0.0.5",), None)
    assert warning in caplog.text


def test_other_services_are_ignored():
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5")], [{"type": "ntp", "address": "10.0.0.9"}])
    assert nic.dns == ()


# -- VLANs and bonds -----------------------------------------------------------------

def vlan(number: int, parent: str, vlan_id=42, **extra) -> dict:
    return {"id": f"link{number}", "type": "vlan", "vlan_link": parent, "vlan_id": vlan_id,
            "vlan_mac_address": f"fa:16:3e:00:01:0{number}", "mtu": 1400, **extra}


def bond(number: int, members, **extra) -> dict:
    return {"id": f"link{number}", "type": "bond", "bond_links": members,
            "ethernet_mac_address": f"fa:16:3e:00:02:0{number}", "bond_mode": "802.3ad",
            **extra}


@pytest.mark.parametrize("mtu, parent_mtu", [(9000, 9000), ("9000", None), (None, None)])
def test_a_vlan_on_a_nic(mtu, parent_mtu):
    nics = parse([link(1, mtu=mtu), vlan(5, "link1")], [ipv4(5, "10.0.5.5")])
    (nic,) = nics  # the parent has no network: it is no entry of its own
    assert (nic.mac, nic.index, nic.addresses, nic.mtu) == ("FA:16:3E:00:01:05", 1,
                                                            ("10.0.5.5",), 1400)
    assert nic.link == VirtualLink("vlan", "eth0.42", parent_mac=MAC1, parent_mtu=parent_mtu,
                                   vlan_id=42)


def test_a_bond_of_two_nics_with_its_options_and_a_vlan_on_it():
    links = [link(1), link(2), bond(5, ["link1", "link2"], bond_miimon=100,
                                    bond_xmit_hash_policy="layer3+4", bond_lacp_rate="fast",
                                    bond_weird="x"),
             vlan(6, "link5", vlan_id=7)]
    bond0, vlan7 = parse(links, [ipv4(5, "10.0.5.5"), ipv4(6, "10.0.6.5")])
    assert bond0.link == VirtualLink("bond", "bond0", members=(MAC1, MAC2), options=(
        ("lacp_rate", "fast"), ("miimon", "100"), ("mode", "802.3ad"),
        ("xmit_hash_policy", "layer3+4")))
    assert (bond0.mac, bond0.index, bond0.addresses) == ("FA:16:3E:00:02:05", 2, ("10.0.5.5",))
    assert vlan7.link == VirtualLink("vlan", "bond0.7", parent_bond="bond0", vlan_id=7)
    assert vlan7.index == 3


def test_the_issues_hash_policy_name_is_read_too():
    (nic,) = parse([link(1), bond(5, ["link1"], bond_hash_policy="layer2+3")],
                   [ipv4(5, "10.0.5.5")])
    assert ("xmit_hash_policy", "layer2+3") in nic.link.options


def test_a_bond_without_networks_is_made_only_to_carry_a_vlan():
    links = [link(1), link(2), bond(5, ["link1"]), bond(6, ["link2"]), vlan(7, "link6")]
    carrier, on_it = parse(links, [ipv4(7, "10.0.7.5")], [{"type": "dns", "address": "8.8.8.8"}])
    assert (carrier.link.ifname, carrier.ipv4_method, carrier.addresses) == ("bond1", None, ())
    assert (carrier.dns, on_it.dns) == ((), ("8.8.8.8",))  # name servers: a static link's
    assert on_it.link.ifname == "bond1.42"


def test_bond_members_that_are_not_here_are_left_out():
    links = [link(1), link(2), bond(5, ["link1", "link2", "link9"])]
    (nic,) = parse(links, [ipv4(5, "10.0.5.5")], macs={MAC2: "eth1"})
    assert nic.link.members == (MAC2,)
    assert parse(links, [ipv4(5, "10.0.5.5")], macs={MAC3: "eth2"}) == []


@pytest.mark.parametrize("change, message", [
    ({"vlan_id": 0}, "vlan_id 0 is not 1..4094"),
    ({"vlan_id": "42"}, "'vlan_id' is missing or not a int"),
    ({"vlan_link": None}, "'vlan_link' is missing"),
])
def test_a_bad_vlan_fails_alone(change, message):
    nics = parse([link(1), link(2), vlan(5, "link1", **change)],
                 [ipv4(2, "10.0.2.5"), ipv4(5, "10.0.5.5")])
    assert [(n.mac, n.error is None) for n in nics] == [(MAC2, True),
                                                        ("FA:16:3E:00:01:05", False)]
    assert message in nics[1].error


def test_vlans_whose_parent_is_not_here_or_without_networks_are_not_made():
    links = [link(1), vlan(5, "link9"), vlan(6, "link1", vlan_id=6)]
    assert parse(links, [ipv4(5, "10.0.5.5")]) == []


@pytest.mark.parametrize("unmade", [
    bond(6, ["link3"]),                                  # no local member
    dict(bond(6, ["link2"]), ethernet_mac_address=""),   # no MAC
    bond(6, "link2"),                                    # members not a list
])
def test_a_vlan_on_a_bond_that_is_not_made_is_not_made(unmade, caplog):
    """Not even before its bond in the document: its parent would be a device of that
    name this tool never made (or an administrator's own)."""
    links = [link(1), link(2), link(3), vlan(7, "link6"), bond(5, ["link1"]), unmade,
             vlan(8, "link5", vlan_id=8)]
    nets = [ipv4(5, "10.0.5.5"), ipv4(6, "10.0.6.5"), ipv4(7, "10.0.7.5"), ipv4(8, "10.0.8.5")]
    with caplog.at_level(logging.INFO, logger=network_data.LOG.name):
        made = [n.link.ifname for n in parse(links, nets, macs={MAC1: "eth0", MAC2: "eth1"})
                if n.error is None]
    assert made == ["bond0", "bond0.8"]
    assert "the parent link6 of VLAN 42 is no local NIC: not made" in caplog.text


@pytest.mark.parametrize("parent, vlan_id, ifname", [
    ("enp129s0f1np1", 4094, "vlan4094"),
    ("enp129s0f1np1", 42, "vlan42"),           # 16 characters
    ("enp129s0f1np", 42, "enp129s0f1np.42"),   # 15: the kernel's IFNAMSIZ - 1
])
def test_a_vlan_name_longer_than_the_kernel_takes(parent, vlan_id, ifname):
    (nic,) = parse([link(1), vlan(5, "link1", vlan_id=vlan_id)], [ipv4(5, "10.0.5.5")],
                   macs={MAC1: parent})
    assert nic.link.ifname == ifname


def test_named_macs_are_the_nic_links():
    doc = json.dumps({"links": [link(1), link(2, "weird"), bond(5, ["link1"]),
                                vlan(6, "link1")]})
    assert named_macs(doc) == {MAC1, MAC2}
    # a VLAN or bond given an ethernet_mac_address (a member's) is no NIC all the same
    doc = json.dumps({"links": [vlan(6, "link1", ethernet_mac_address=MAC1),
                                bond(5, ["link1"], ethernet_mac_address=MAC2), link(3)]})
    assert named_macs(doc) == {MAC3}
    # a document that is no object, or whose links are no list, names none (and
    # parse_network_data then says what is wrong with it)
    assert named_macs("not json") == named_macs("[]") == named_macs('{"links": 5}') == set()


def test_a_nic_left_to_dhcp_still_counts_as_a_nic():
    dhcp = {"id": "n", "link": "link1", "type": "ipv4_dhcp", "network_id": "x"}
    text = json.dumps({"links": [link(1), link(2), link(3)],
                       "networks": [dhcp, ipv4(2, "10.0.1.5"), dict(dhcp, link="link3")]})
    assert network_data.dhcp_macs(text, {MAC1: "eth0", MAC2: "eth1"}) == (MAC1,)
    # a VLAN or bond on DHCP whose MAC is a local NIC's is not that NIC
    virtual = json.dumps({"links": [vlan(5, "link1", ethernet_mac_address=MAC1),
                                    bond(6, ["link2"], ethernet_mac_address=MAC2)],
                          "networks": [dict(dhcp, link="link5"), dict(dhcp, link="link6")]})
    assert network_data.dhcp_macs(virtual, LOCAL) == ()
    from nm_cloud_setup.model import InstanceData
    from nm_cloud_setup.planning import layout

    nics = tuple(parse_network_data(text, LOCAL))
    assert layout.is_single_address(InstanceData("openstack", nics))
    assert not layout.is_single_address(InstanceData("openstack", nics, dhcp=(MAC1,)))


# -- next to cloud-init's own reading ------------------------------------------
# The emulator's document (DHCP and static networks, name servers, a VLAN on a NIC and
# one on a bond, a bond of two NICs) goes through cloud-init's ``convert_net_json`` with
# Debian's python3, and through ``parse_network_data``: the devices, their names,
# members, VLAN ids, addresses and what is left to DHCP must agree.

CONVERT = """
import json, sys
from cloudinit.sources.helpers import openstack
doc, macs = json.load(sys.stdin)
print(json.dumps(openstack.convert_net_json(doc, known_macs=macs)))
"""


def scenario() -> dict:
    from nm_cloud_setup.emulator import scenario as scenarios

    nics = [scenarios.nic(n, 0) for n in range(5)]
    nics[0].update(addresses=["172.31.16.10"], dhcp=True)
    nics[1].update(addresses=["172.31.32.10", "172.31.32.11"], dns=["172.31.32.2"])
    vlan = dict(scenarios.nic(5, 1), vlan_id=42, parent=nics[2]["mac"], mac="02:00:00:00:01:42")
    bond = dict(scenarios.nic(6, 1), bond=True, members=[nics[3]["mac"], nics[4]["mac"]],
                mode="active-backup", miimon=100, mac="02:00:00:00:02:00")
    on_bond = dict(scenarios.nic(7, 1), vlan_id=7, parent="bond-1", mac="02:00:00:00:02:07")
    return {"interfaces": nics,
            "openstack": {"dns": ["8.8.8.8"], "links": [vlan, bond, on_bond]}}


def test_cloud_init_reads_the_document_as_we_do():
    need_cloud_init()
    doc = emulated_network_data(scenario())
    names = {n["mac"].upper(): f"eth{k + 1}" for k, n in enumerate(scenario()["interfaces"])}
    result = subprocess.run([DEBIAN_PYTHON, "-c", CONVERT], capture_output=True, text=True,
                            input=json.dumps([doc, {m.lower(): n for m, n in names.items()}]))
    assert result.returncode == 0, result.stderr
    theirs = {c.get("name"): c for c in json.loads(result.stdout)["config"]}
    ours = parse_network_data(json.dumps(doc), names)

    statics = {}
    for name, config in theirs.items():
        statics[name] = tuple(s["address"] for s in config.get("subnets", [])
                              if s["type"] == "static")
    for iface in ours:
        name = iface.link.ifname if iface.link else names[iface.mac]
        assert statics[name] == iface.addresses, name
        if iface.link and iface.link.kind == "vlan":
            assert theirs[name]["vlan_id"] == iface.link.vlan_id
            parent = iface.link.parent_bond or names[iface.link.parent_mac]
            assert theirs[name]["vlan_link"] == parent
        if iface.link and iface.link.kind == "bond":
            assert theirs[name]["bond_interfaces"] == [names[m] for m in iface.link.members]
            assert theirs[name]["params"]["bond_mode"] == dict(iface.link.options)["mode"]
    # what both leave to DHCP
    assert [s["type"] for s in theirs["eth1"]["subnets"]] == ["dhcp4"]
    assert dhcp_macs(json.dumps(doc), names) == ("02:00:00:00:00:01",)
    assert [iface.link.ifname for iface in ours if iface.link] == ["eth3.42", "bond0", "bond0.7"]
    # the global name servers: cloud-init's "nameserver" entries, ours after the network's
    assert [c["address"] for c in theirs.values() if c["type"] == "nameserver"] == ["8.8.8.8"]
    eth2 = next(iface for iface in ours if iface.mac == "02:00:00:00:00:02")
    assert eth2.dns == ("172.31.32.2", "8.8.8.8")
