"""OpenStack's ``network_data.json``, read: links, networks and services -> NICs.  Pure.

The shapes are Nova's (its schema ``doc/api_schemas/network_data.json`` and
``nova/virt/netutils.py``; Ironic adds ``bond`` links and their ``phy`` members),
read as cloud-init's ``convert_net_json`` reads them, except where noted:
- links: ``phy``, ``ethernet``, ``ovs``, ``bridge``, ``tap``, ``vif``, ``dvs``,
  ``hw_veb``, ``hyperv``, ``vhostuser`` (Nova), ``bgpovs``, ``cascading`` (clouds
  cloud-init knows) and a link without a type are NICs, matched by
  ``ethernet_mac_address``; ``vlan`` (``vlan_link``, ``vlan_id``,
  ``vlan_mac_address``) and ``bond`` (``bond_links``, ``bond_mode``, ``bond_*``)
  are made over them.  Another type is ignored with a debug line (cloud-init
  takes it for a NIC: a virtual link often repeats a member's MAC).
- networks: ``ipv4`` and ``ipv6`` (cloud-init's ``static``, ``static6`` too) are
  static; ``ipv4_dhcp``, ``ipv6_dhcp``, ``ipv6_slaac``, ``ipv6_dhcpv6-stateful``
  and ``-stateless`` are left to the link (Nova lists an address on the SLAAC
  and DHCPv6 types too: it is not configured).  Another type is ignored with a
  debug line.
- ``services`` of type ``dns``, of each static network (and of its routes), then
  the global list, are the name servers of a static link, in that order.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
from typing import Any, Dict, FrozenSet, Iterator, List, Mapping, Optional, Tuple

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InterfaceData, VirtualLink, normalize_mac
from nm_cloud_setup.providers.ipv6 import (check_in_subnet6, parse_gateway6, parse_ipv6,
                                           parse_prefix6, subnet6_of)
from nm_cloud_setup.providers.listing import checked
from nm_cloud_setup.providers.values import (field, parse_ipv4, parse_json, parse_mtu,
                                             parse_netmask, subnet_of)

LOG = logging.getLogger(__name__)

NIC_TYPES = frozenset(("phy", "ethernet", "ovs", "bridge", "tap", "vif", "dvs", "hw_veb",
                       "hyperv", "vhostuser", "bgpovs", "cascading"))
STATIC = {"ipv4": 4, "static": 4, "ipv6": 6, "static6": 6}
DYNAMIC = {"ipv4_dhcp": 4, "ipv6_dhcp": 6, "ipv6_slaac": 6, "ipv6_dhcpv6-stateful": 6,
           "ipv6_dhcpv6-stateless": 6}
# The kernel's bonding options NetworkManager takes, as Ironic passes them (bond_NAME);
# the "bond_hash_policy" is read as xmit_hash_policy.
BOND_OPTIONS = frozenset(("mode", "miimon", "xmit_hash_policy", "updelay", "downdelay",
                          "lacp_rate", "ad_select", "min_links", "primary",
                          "primary_reselect", "fail_over_mac", "num_grat_arp",
                          "all_slaves_active", "arp_interval", "arp_ip_target",
                          "arp_validate", "use_carrier"))
BOND_ALIASES = {"hash_policy": "xmit_hash_policy"}
IFNAMSIZ = 15


def parse_network_data(text: str, macs: Mapping[str, str]) -> List[InterfaceData]:
    """The NICs (then the VLANs and bonds) of ``network_data.json`` on local NICs.

    ``macs``: the local NICs, MAC -> interface name.  A link whose data is bad is
    returned with its ``error`` set (it keeps its configuration); a bad document
    raises MetadataError.
    """
    doc = parse_json(text, "network_data.json")
    if not isinstance(doc, dict) or not isinstance(doc.get("links"), list) \
            or not isinstance(doc.get("networks"), list):
        raise MetadataError("network_data.json has no 'links' and 'networks' lists")
    networks = _networks_by_link(doc["networks"])
    global_dns = _dns(doc.get("services"))
    nics: Dict[str, Tuple[int, str, Any]] = {}
    virtual: List[Tuple[str, Dict[str, Any]]] = []
    position = 0  # among the links with a MAC that are no VLAN or bond: the table index
    for link in doc["links"]:
        if not isinstance(link, dict):
            continue
        kind, link_id = _kind(link), str(link.get("id"))
        if kind in ("vlan", "bond"):
            virtual.append((link_id, {**link, "type": kind}))
            continue
        mac = normalize_mac(str(link.get("ethernet_mac_address", "")))
        if mac is None:
            continue
        if kind is not None and kind not in NIC_TYPES:
            LOG.debug("openstack: link %s (%s) has the unknown type %r: ignored", link_id, mac,
                      kind)
        else:
            nics[link_id] = (position, mac, link.get("mtu"))
        position += 1
    result = []
    for link_id, (idx, mac, mtu) in nics.items():
        # A NIC whose networks are all DHCP or SLAAC is left to them, as before.
        if mac in macs and any(kind in STATIC for kind, _ in networks.get(link_id, ())):
            result.append(dataclasses.replace(checked(
                mac, idx, _interface, idx, mac, mtu, networks[link_id], global_dns),
                interface_id=link_id))
    result += _virtual_links(virtual, nics, position, networks, global_dns, macs)
    return result


def _kind(item: Dict[str, Any]) -> Optional[str]:
    """An item's ``type``: a string, None when absent, else its repr (never matches)."""
    kind = item.get("type")
    return kind if kind is None or isinstance(kind, str) else repr(kind)[:40]


def _networks_by_link(items: List[Any]) -> Dict[str, List[Tuple[str, Any]]]:
    """(type, network) per link id, of the types this reads; others logged."""
    by_link: Dict[str, List[Tuple[str, Any]]] = {}
    for net in items:
        if not isinstance(net, dict):
            continue
        kind = _kind(net)
        if kind not in STATIC and kind not in DYNAMIC:
            LOG.debug("openstack: network %s has the unknown type %r: ignored", net.get("id"),
                      kind)
            continue
        by_link.setdefault(str(net.get("link")), []).append((kind, net))
    return by_link


def _interface(idx: int, mac: str, mtu: Any, networks: List[Tuple[str, Any]],
               global_dns: Tuple[str, ...] = (),
               link: Optional[VirtualLink] = None) -> InterfaceData:
    """One link's networks: the static ones' addresses, routes and name servers, and how
    each family is configured."""
    static = {family: [net for kind, net in networks if STATIC.get(kind) == family]
              for family in (4, 6)}
    methods = {}
    for family in (4, 6):
        dynamic = any(DYNAMIC.get(kind) == family for kind, _ in networks)
        methods[family] = "auto" if dynamic else "manual" if static[family] else None
    if isinstance(mtu, str):  # the JSON's number only
        raise MetadataError(f"invalid MTU {mtu!r}: not a number")
    iface = InterfaceData(mac, idx, mtu=parse_mtu(mtu, ipv6=methods[6] is not None))
    if static[6]:
        addresses6, subnet6, gateway6, routes6 = _ipv6_part(mac, static[6])
        iface = dataclasses.replace(iface, ipv6_addresses=addresses6, ipv6_subnet=subnet6,
                                    ipv6_gateway=gateway6, routes=routes6)
    if static[4]:
        addresses, subnet, gateway, routes = _ipv4_part(mac, static[4])
        iface = dataclasses.replace(iface, addresses=addresses, subnet=subnet, gateway=gateway,
                                    routes=routes + iface.routes)
    dns = _dns_of(static[4] + static[6], global_dns) if static[4] or static[6] else ()
    return dataclasses.replace(iface, ipv4_method=methods[4], ipv6_method=methods[6], dns=dns,
                               link=link)


def _ipv4_part(mac: str, networks: List[Any]) -> Tuple[tuple, str, Optional[str], tuple]:
    """(addresses, subnet, gateway, routes) of a link's static ``ipv4`` networks: the
    first one's subnet; an address in another subnet is logged and left out."""
    first = networks[0]
    primary = parse_ipv4(field(first, "ip_address", str, "network"))
    subnet = subnet_of(primary, parse_netmask(field(first, "netmask", str, "network")))
    addresses = [primary]
    for net in networks[1:]:
        address = parse_ipv4(field(net, "ip_address", str, "network"))
        if subnet_of(address, parse_netmask(field(net, "netmask", str, "network"))) != subnet:
            LOG.warning("openstack: %s of %s is in another subnet than %s: not configured",
                        address, mac, subnet)
            continue
        addresses.append(address)
    gateway: Optional[str] = None
    routes = []
    for route in _routes(networks):
        cidr = _route_cidr(route)
        hop = parse_ipv4(field(route, "gateway", str, "route"), "gateway")
        if cidr == "0.0.0.0/0":
            gateway = gateway or hop
        else:
            routes.append((cidr, hop))
    return tuple(dict.fromkeys(addresses)), subnet, gateway, tuple(dict.fromkeys(routes))


def _ipv6_part(mac: str, networks: List[Any]) -> Tuple[tuple, str, Optional[str], tuple]:
    """(addresses, subnet, gateway, routes) of a link's static ``ipv6`` networks, as
    ``_ipv4_part``."""
    addresses: List[str] = []
    subnet: Optional[str] = None
    for net in networks:
        address, prefix = _address6(net)
        if subnet is None:
            subnet = subnet6_of(address, prefix)
        elif subnet6_of(address, prefix) != subnet:
            LOG.warning("openstack: %s of %s is in another subnet than %s: not configured",
                        address, mac, subnet)
            continue
        addresses.append(address)
    assert subnet is not None
    check_in_subnet6(addresses, subnet)
    gateway: Optional[str] = None
    routes = []
    for route in _routes(networks):
        network = field(route, "network", str, "route")
        netmask = field(route, "netmask", str, "route")
        prefix = 0 if netmask.strip() in ("::", "0") else parse_prefix6(netmask)
        hop = parse_gateway6(field(route, "gateway", str, "route"))
        if prefix == 0:
            gateway = gateway or hop
        else:
            routes.append((subnet6_of(parse_ipv6(network, "route network"), prefix), hop))
    return tuple(dict.fromkeys(addresses)), subnet, gateway, tuple(dict.fromkeys(routes))


def _routes(networks: List[Any]) -> Iterator[Any]:
    """Every route of the networks, in order."""
    for net in networks:
        routes_list = net.get("routes") or []
        if not isinstance(routes_list, list):
            raise MetadataError("a network's 'routes' is not a list")
        yield from routes_list


def _address6(net: Any) -> Tuple[str, int]:
    """A network's ``ip_address`` and prefix (``/N`` on it, or its ``netmask``)."""
    text = field(net, "ip_address", str, "network")
    address, _, prefix = text.partition("/")
    if not prefix:
        prefix = net.get("netmask") if isinstance(net.get("netmask"), (str, int)) else ""
    return parse_ipv6(address), parse_prefix6(prefix)


def _route_cidr(route: Any) -> str:
    network = field(route, "network", str, "route")
    netmask = field(route, "netmask", str, "route")
    try:
        net = ipaddress.IPv4Network(f"{network}/{netmask}", strict=False)
    except ValueError:
        raise MetadataError(f"invalid route {network[:40]}/{netmask[:40]}") from None
    return str(net)


# -- name servers ------------------------------------------------------------------

def _dns(services: Any) -> Tuple[str, ...]:
    """The ``dns`` services' addresses, in order; anything else is logged and left out."""
    if services is None:
        return ()
    if not isinstance(services, list):
        LOG.warning("openstack: 'services' is not a list: no name servers from it")
        return ()
    found = []
    for service in services:
        if not isinstance(service, dict) or service.get("type") != "dns":
            LOG.debug("openstack: service %r is not a name server: ignored", service)
            continue
        try:
            found.append(str(ipaddress.ip_address(str(service.get("address", "")).strip())))
        except ValueError:
            LOG.warning("openstack: name server %r is not an address: left out",
                        service.get("address"))
    return tuple(found)


def _dns_of(networks: List[Any], global_dns: Tuple[str, ...]) -> Tuple[str, ...]:
    """The static networks' name servers (their own, their routes'), then the global
    ones; once each, IPv4 first (a connection holds the two families apart)."""
    found: List[str] = []
    for net in networks:
        found += _dns(net.get("services"))
        for route in net.get("routes") or []:
            if isinstance(route, dict):
                found += _dns(route.get("services"))
    found = list(dict.fromkeys(found + list(global_dns)))
    return tuple(a for a in found if ":" not in a) + tuple(a for a in found if ":" in a)


# -- VLANs and bonds ---------------------------------------------------------------

def _virtual_links(links: List[Tuple[str, Dict[str, Any]]],
                   nics: Mapping[str, Tuple[int, str, Any]], first: int,
                   networks: Mapping[str, List[Tuple[str, Any]]],
                   global_dns: Tuple[str, ...], macs: Mapping[str, str]) -> List[InterfaceData]:
    """The bonds (named bond0, bond1... in order, as cloud-init names them) and the
    VLANs, in the document's order, each indexed after the NICs; only those with
    networks or, for a bond, a VLAN on it."""
    bonds = {link_id: f"bond{n}" for n, (link_id, _) in
             enumerate(item for item in links if item[1].get("type") == "bond")}
    carriers = {str(link.get("vlan_link")) for _, link in links if link["type"] == "vlan"}
    # a VLAN on a bond that is not made is not made either (its parent would be a
    # device of that name this tool never made): the bonds made, before the VLANs
    made = {link_id: bonds[link_id] for link_id, link in links if link_id in bonds
            and normalize_mac(str(link.get("ethernet_mac_address", ""))) is not None
            and (networks.get(link_id) or link_id in carriers)
            and isinstance(link.get("bond_links"), list)
            and _local_members(link["bond_links"], nics, macs)}
    result = []
    for number, (link_id, link) in enumerate(links):
        idx = first + number
        mac = normalize_mac(str(link.get("vlan_mac_address" if link["type"] == "vlan"
                                         else "ethernet_mac_address", "")))
        if mac is None:
            LOG.warning("openstack: %s link %s has no MAC address: ignored", link["type"],
                        link_id)
            continue
        if not networks.get(link_id) and link_id not in carriers:
            LOG.debug("openstack: %s link %s has no network: not made", link["type"], link_id)
            continue
        try:
            virtual = (_bond(link, bonds[link_id], nics, macs) if link["type"] == "bond"
                       else _vlan(link, nics, made, macs))
        except MetadataError as err:
            result.append(InterfaceData(mac, idx, error=f"{link['type']} {link_id}: {err}"))
            continue
        if virtual is None:
            continue
        result.append(checked(mac, idx, _interface, idx, mac, link.get("mtu"),
                              networks.get(link_id, []), global_dns, virtual))
    return result


def _bond(link: Dict[str, Any], ifname: str, nics: Mapping[str, Tuple[int, str, Any]],
          macs: Mapping[str, str]) -> Optional[VirtualLink]:
    members = field(link, "bond_links", list, "bond link")
    local = _local_members(members, nics, macs)
    for member in members:
        if nics.get(str(member), (0, None))[1] not in local:
            LOG.info("openstack: member %s of %s is no local NIC: left out", member, ifname)
    if not local:
        LOG.info("openstack: %s has no local member: not made", ifname)
        return None
    options = {}
    for key, value in link.items():
        name = BOND_ALIASES.get(key[5:], key[5:]) if key.startswith("bond_") else None
        if name is None or key == "bond_links":
            continue
        if name not in BOND_OPTIONS or not isinstance(value, (str, int)) \
                or isinstance(value, bool):
            LOG.debug("openstack: bond option %s=%r is not one NetworkManager takes: ignored",
                      key, value)
            continue
        options[name] = str(value)
    return VirtualLink("bond", ifname, members=tuple(dict.fromkeys(local)),
                       options=tuple(sorted(options.items())))


def _local_members(members: List[Any], nics: Mapping[str, Tuple[int, str, Any]],
                   macs: Mapping[str, str]) -> List[str]:
    """The MACs of a bond's members that are local NICs, in order."""
    found = (nics.get(str(member)) for member in members)
    return [nic[1] for nic in found if nic is not None and nic[1] in macs]


def _vlan(link: Dict[str, Any], nics: Mapping[str, Tuple[int, str, Any]],
          bonds: Mapping[str, str], macs: Mapping[str, str]) -> Optional[VirtualLink]:
    vlan_id = field(link, "vlan_id", int, "vlan link")
    if not 1 <= vlan_id <= 4094:
        raise MetadataError(f"vlan_id {vlan_id} is not 1..4094")
    parent = str(field(link, "vlan_link", str, "vlan link"))
    if parent in bonds:
        parent_ifname, parent_mac, parent_mtu = bonds[parent], None, None
    elif parent in nics and nics[parent][1] in macs:
        _, parent_mac, parent_mtu = nics[parent]
        parent_ifname = macs[parent_mac]
    else:
        LOG.info("openstack: the parent %s of VLAN %d is no local NIC: not made", parent,
                 vlan_id)
        return None
    name = f"{parent_ifname}.{vlan_id}"
    if len(name) > IFNAMSIZ:  # the kernel's limit; cloud-init's name would fail there
        name = f"vlan{vlan_id}"
    return VirtualLink("vlan", name, parent_mac=parent_mac,
                       parent_bond=None if parent_mac else parent_ifname,
                       parent_mtu=parent_mtu if isinstance(parent_mtu, int) else None,
                       vlan_id=vlan_id)


def dhcp_macs(text: str, macs: Mapping[str, str]) -> Tuple[str, ...]:
    """The local NICs whose IPv4 networks are all DHCP (and that have one): left to it."""
    try:
        doc = json.loads(text)
        networks = _networks_by_link(doc["networks"])
        links = [link for link in doc["links"] if isinstance(link, dict)]
    except (ValueError, TypeError, KeyError):
        return ()
    found = []
    for link in links:
        mac = normalize_mac(str(link.get("ethernet_mac_address", "")))
        kinds = {kind for kind, _ in networks.get(str(link.get("id")), ())}
        if mac in macs and "ipv4_dhcp" in kinds and not kinds & set(STATIC) \
                and _kind(link) not in ("vlan", "bond"):
            found.append(mac)
    return tuple(dict.fromkeys(found))


def named_macs(text: str) -> FrozenSet[str]:
    """The MACs of the document's NIC links (empty for a document that does not parse)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return frozenset()
    links = doc.get("links") if isinstance(doc, dict) else None
    if not isinstance(links, list):  # parse_network_data says what is wrong
        return frozenset()
    return frozenset(mac for mac in (normalize_mac(str(link.get("ethernet_mac_address", "")))
                                     for link in links if isinstance(link, dict)
                                     and link.get("type") not in ("vlan", "bond"))
                     if mac is not None)
