"""The routing layout: what the cloud's metadata adds to a device, both families.  Pure.

Upstream nm-cloud-setup's layout exactly, mirrored in IPv6, and beyond upstream
further IPv4 subnets each with its own gateway (DigitalOcean's anchor address).
The tables, rules, priorities and metrics are written in one place,
docs/routing.md; the constants below are their numbers.  Everything starts from
the profile's own entries, so a rerun is stable and entries the cloud no longer
lists vanish.
"""

from __future__ import annotations

import ipaddress
from typing import AbstractSet, FrozenSet, Iterable, List, Optional, Tuple, TypeVar, Union

from nm_cloud_setup.model import (FAMILIES, Address, InstanceData, InterfaceData, IpConfig, Network,
                                  Route, Rule, family_of)
from nm_cloud_setup.planning import mtu
from nm_cloud_setup.planning.tables import EXTRA_STEP, MAX_EXTRA_NETWORKS, UPSTREAM, Tables

TABLE_MAIN = 254
METRIC = 10
METRIC_LOCAL = 100
# Main-table routes of a NIC of static networks: above DHCP's (NetworkManager's 100+,
# dhclient's 0), so a NIC plugged later never takes the VM's default route; one
# metric per NIC, so two such NICs' default routes can coexist (systemd-networkd's
# DHCP routes use 1024).
METRIC_STATIC_BASE = 1024
HOST_LEN = {4: 32, 6: 128}
ANY = {4: "0.0.0.0", 6: "::"}

T = TypeVar("T")
Single = Union[bool, AbstractSet[int]]


def is_single_address(instance: InstanceData, family: int = 4) -> bool:
    """True when the instance has at most one NIC with at most one address of ``family``.

    Then that family gets no addresses, rules or tables (DHCP, SLAAC or DHCPv6 did
    it all), only locally delivered routes.  For IPv4, as upstream, a NIC with only
    locally delivered routes counts as a NIC, and so do the listed NICs that are no
    local NIC's (upstream fetches and counts them); so does a NIC the metadata leaves
    to DHCP (OpenStack: a static NIC next to it needs its own tables all the same).
    If any NIC's data failed, the answer is unknown: callers check ``instance.failed``
    first.
    """
    if family == 4:
        nics = [iface for iface in instance.interfaces if iface.valid]
        others = len(instance.unmatched) + len(instance.dhcp)
    else:
        nics = [iface for iface in instance.interfaces if iface.has_ipv6_addresses]
        others = 0
    return (len(nics) + others <= 1
            and sum(len(iface.addresses_of(family))
                    + (len(_extra_addresses(iface)) if family == 4 else 0)
                    for iface in nics) <= 1)


def extra_networks(iface: InterfaceData) -> Tuple[Network, ...]:
    """The NIC's further IPv4 subnets this layout configures (at most MAX_EXTRA_NETWORKS)."""
    nets = [net for net in iface.extra_networks
            if net.addresses and ipaddress.ip_network(net.subnet, strict=False).version == 4]
    return tuple(nets[:MAX_EXTRA_NETWORKS])


def _extra_addresses(iface: InterfaceData) -> Tuple[str, ...]:
    return tuple(a for net in extra_networks(iface) for a in net.addresses)


def extra_table(iface: InterfaceData, number: int, tables: Tables = UPSTREAM) -> int:
    """The default-route table of further subnet ``number`` (0-based) of a NIC."""
    return tables.extra + EXTRA_STEP * number + iface.index


def single_families(instance: InstanceData) -> FrozenSet[int]:
    """The families for which ``is_single_address`` holds."""
    return frozenset(f for f in FAMILIES if is_single_address(instance, f))


def gateway_of(iface: InterfaceData) -> str:
    """The metadata gateway, else the first host of the subnet (EC2, Azure; a /32's
    own address, as upstream)."""
    if iface.gateway:
        return iface.gateway
    assert iface.subnet is not None
    subnet = ipaddress.IPv4Network(iface.subnet)
    return str(subnet.network_address + (1 if subnet.prefixlen < 32 else 0))


def subnets_of(addresses: Iterable[str], prefix: int) -> Tuple:
    """Each address's subnet with the NIC's prefix, once each, in order (upstream: an
    address outside the NIC's subnet brings a route for its own)."""
    return tuple(dict.fromkeys(ipaddress.ip_network(f"{a}/{prefix}", strict=False)
                               for a in addresses))


def gateway6_of(iface: InterfaceData) -> str:
    """The metadata's IPv6 gateway (OCI, Aliyun, OpenStack; Azure's fixed link-local
    router), else the first host of the IPv6 subnet, which EC2 reserves for its router."""
    if iface.ipv6_gateway:
        return iface.ipv6_gateway
    assert iface.ipv6_subnet is not None
    return str(ipaddress.IPv6Network(iface.ipv6_subnet).network_address + 1)


def _singles(single_address: Single) -> AbstractSet[int]:
    if isinstance(single_address, bool):
        return set(FAMILIES) if single_address else set()
    return single_address


def cloud_entries(iface: InterfaceData, single_address: Single = False,
                  tables: Tables = UPSTREAM) -> IpConfig:
    """What the cloud metadata adds to a device, in upstream's layout, IPv4 then IPv6.

    ``single_address``: True, or the families for which the instance is single-address.
    """
    singles = _singles(single_address)
    addresses: List[Address] = []
    routes: List[Route] = []
    rules: List[Rule] = []
    for family, wanted, subnet, gateway in (
            (4, iface.has_addresses, iface.subnet, gateway_of),
            (6, iface.has_ipv6_addresses, iface.ipv6_subnet, gateway6_of)):
        if not wanted or family in singles:
            continue
        assert subnet is not None
        _layout(iface, family, ipaddress.ip_network(subnet), gateway(iface), tables,
                (addresses, routes, rules))
    for cidr in iface.local_routes:
        net = ipaddress.ip_network(cidr)
        routes.append(Route(str(net.network_address), net.prefixlen, metric=METRIC_LOCAL,
                            type="local"))
    if tables.addresses:  # asked for by the administrator: also on a single-address NIC
        addresses += [Address(a, HOST_LEN[family_of(a)]) for a in iface.delegated_addresses]
    return IpConfig(tuple(addresses), tuple(routes), tuple(rules))


Entries = Tuple[List[Address], List[Route], List[Rule]]


def _layout(iface: InterfaceData, family: int, subnet, gateway: str, tables: Tables,
            into: Entries) -> None:
    """One family's addresses, tables and rules of a NIC, appended to ``into``."""
    addresses, routes, rules = into
    listed = iface.addresses_of(family)
    if tables.addresses:
        addresses += [Address(a, subnet.prefixlen) for a in listed]
    if family in tables.routing:
        # A NIC on another network card: its own tables, card 0's priorities (each rule
        # names its own source address, so rules sharing a priority never compete).
        table_subnet = tables.subnet_table(iface.index, iface.card)
        rule_subnet = tables.subnet_rule + iface.index
        table_default = tables.default_table(iface.index, iface.card)
        rule_default = tables.default_rule + iface.index
        host = HOST_LEN[family]
        rules += [Rule(rule_subnet, table_subnet, a, host, family=family) for a in listed]
        routes += [Route(str(net.network_address), net.prefixlen, metric=METRIC,
                         table=table_subnet) for net in subnets_of(listed, subnet.prefixlen)]
        rules.append(Rule(tables.suppress, TABLE_MAIN, suppress_prefixlength=0, family=family))
        routes.append(Route(ANY[family], 0, next_hop=gateway, metric=METRIC,
                            table=table_default))
        for cidr, hop in iface.routes:
            net = ipaddress.ip_network(cidr)
            if net.version == family:
                routes.append(Route(str(net.network_address), net.prefixlen, next_hop=hop,
                                    metric=METRIC, table=table_default))
        rules += [Rule(rule_default, table_default, a, host, family=family) for a in listed]
        for net in _delegated(iface, family):  # as amazon-ec2-net-utils v2: from PREFIX
            rules += [Rule(priority, table, str(net.network_address), net.prefixlen,
                           family=family)
                      for priority, table in ((rule_subnet, table_subnet),
                                              (rule_default, table_default))]
    if family == 4:
        _extra_entries(iface, tables, into)


def _delegated(iface: InterfaceData, family: int) -> List:
    nets = (ipaddress.ip_network(cidr) for cidr in iface.delegated)
    return [net for net in nets if net.version == family]


def _extra_entries(iface: InterfaceData, tables: Tables, into: Entries) -> None:
    """Further subnets: subnet route and rules in the NIC's subnet table, and each its
    own default-route table, so that each address leaves through its own gateway."""
    addresses, routes, rules = into
    table_subnet = tables.subnet_table(iface.index, iface.card)
    rule_subnet = tables.subnet_rule + iface.index
    for number, net in enumerate(extra_networks(iface)):
        subnet = ipaddress.IPv4Network(net.subnet)
        if tables.addresses:
            addresses += [Address(a, subnet.prefixlen) for a in net.addresses]
        if 4 not in tables.routing:
            continue
        table = extra_table(iface, number, tables)
        rule = tables.extra_rule + EXTRA_STEP * number + iface.index
        gateway = net.gateway or str(subnet.network_address + 1)
        routes.append(Route(str(subnet.network_address), subnet.prefixlen, metric=METRIC,
                            table=table_subnet))
        routes.append(Route("0.0.0.0", 0, next_hop=gateway, metric=METRIC, table=table))
        rules += [Rule(rule_subnet, table_subnet, a, 32) for a in net.addresses]
        rules += [Rule(rule, table, a, 32) for a in net.addresses]


def desired(iface: InterfaceData, own: IpConfig, single_address: Single,
            families: Iterable[int] = FAMILIES, applied: Optional[IpConfig] = None,
            ours: bool = False, tables: Tables = UPSTREAM,
            mtu_set: Optional[int] = None) -> IpConfig:
    """The profile's own entries plus the cloud's, without duplicates.

    A family not in ``families`` is left exactly as ``applied`` has it.  The name
    servers are ``own``'s for a profile this tool made (``ours``: ``own`` is then
    ``static_base``), else left as applied.  The MTU: ``mtu.wanted`` (``mtu_set``: the
    one this tool set before).
    """
    cloud = cloud_entries(iface, single_address, tables)
    addresses = _unique_by(own.addresses + cloud.addresses, lambda a: a.address)
    dns = own.dns if ours or applied is None else applied.dns
    link_mtu = mtu.wanted(iface.mtu, own.mtu, None if applied is None else applied.mtu, ours,
                          mtu_set)
    wanted = IpConfig(addresses, _unique(own.routes + cloud.routes),
                      _unique(own.rules + cloud.rules), link_mtu, dns)
    for family in set(FAMILIES) - set(families):
        wanted = wanted.with_family(family, applied or IpConfig())
    return wanted


def static_base(iface: InterfaceData) -> IpConfig:
    """What a NIC of static networks holds before the layout: what DHCP (or SLAAC) gives
    a NIC elsewhere.  Each static family's addresses with the subnet's prefix, the
    default route via its gateway and the network's routes, in the main table (metric
    ``METRIC_STATIC_BASE`` + the NIC's index); the MTU and the name servers (of the
    families the NIC has a network of: a connection holds no others).  The own entries
    of a profile this tool made (OpenStack)."""
    addresses: List[Address] = []
    routes: List[Route] = []
    metric = METRIC_STATIC_BASE + iface.index
    for family, listed, subnet, gateway in (
            (4, iface.addresses, iface.subnet, iface.gateway),
            (6, iface.ipv6_addresses, iface.ipv6_subnet, iface.ipv6_gateway)):
        if not listed or subnet is None:
            continue
        prefix = ipaddress.ip_network(subnet).prefixlen
        addresses += [Address(a, prefix) for a in listed]
        if gateway:
            routes.append(Route(ANY[family], 0, next_hop=gateway, metric=metric))
        for cidr, hop in iface.routes:
            net = ipaddress.ip_network(cidr)
            if net.version == family:
                routes.append(Route(str(net.network_address), net.prefixlen, next_hop=hop,
                                    metric=metric))
    methods = {4: iface.ipv4_method, 6: iface.ipv6_method}
    dns = tuple(a for a in iface.dns if methods[6 if ":" in a else 4])
    return IpConfig(tuple(addresses), tuple(routes), (), iface.mtu, dns)


def _unique(items: Iterable[T]) -> Tuple[T, ...]:
    return tuple(dict.fromkeys(items))


def _unique_by(items: Iterable[Address], key) -> Tuple[Address, ...]:
    seen = {}
    for item in items:
        seen.setdefault(key(item), item)
    return tuple(seen.values())
