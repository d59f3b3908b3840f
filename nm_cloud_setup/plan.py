"""The desired configuration of a device, both address families: pure functions, no I/O.

Upstream nm-cloud-setup's layout, exactly, and the same in IPv6: per NIC with
table index IDX, per family,
- every metadata address with the subnet's prefix, primary first;
- route SUBNET metric 10 table 30200+IDX (one per distinct subnet of the addresses),
  rule priority 30200+IDX from ADDR/32 (IPv6: /128) table 30200+IDX;
- rule priority 30350 table main suppress_prefixlength 0;
- route 0.0.0.0/0 (IPv6: ::/0) via GW metric 10 table 30400+IDX,
  rule priority 30400+IDX from ADDR/32 (/128) table 30400+IDX;
- per locally delivered range (GCP forwarded IPs): route CIDR metric 100 type local.
Beyond upstream, a NIC may carry further IPv4 subnets, each with its own gateway
(DigitalOcean's anchor address).  Further subnet K (0-based) of the NIC:
- its addresses with its own prefix; route SUBNET_K metric 10 in table 30200+IDX,
  and the per-address rules to table 30200+IDX, as for the first subnet;
- route 0.0.0.0/0 via GW_K metric 10 table T = 30500+100*K+IDX,
  rule priority T from ADDR/32 table T per address: each address leaves through
  its own subnet's gateway.  Tables 30500-30999 hold at most 5 further subnets.
Everything starts from the profile's own entries, so a rerun is stable and
entries the cloud no longer lists vanish.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import (AbstractSet, Collection, FrozenSet, Iterable, List, Optional, Tuple, TypeVar,
                    Union)

from nm_cloud_setup.model import (FAMILIES, Address, InstanceData, InterfaceData, IpConfig,
                                  Network, Route, Rule)

TABLE_SUBNET_BASE = 30200
PRIORITY_SUPPRESS = 30350
TABLE_DEFAULT_BASE = 30400
TABLE_EXTRA_BASE = 30500
TABLE_EXTRA_STEP = 100
MAX_EXTRA_NETWORKS = 5
MAX_INTERFACES = 100
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


def extra_table(iface: InterfaceData, number: int) -> int:
    """The default-route table of further subnet ``number`` (0-based) of a NIC."""
    return TABLE_EXTRA_BASE + TABLE_EXTRA_STEP * number + iface.index


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


def cloud_entries(iface: InterfaceData, single_address: Single = False) -> IpConfig:
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
        _layout(iface, family, ipaddress.ip_network(subnet), gateway(iface), addresses,
                routes, rules)
    for cidr in iface.local_routes:
        net = ipaddress.ip_network(cidr)
        routes.append(Route(str(net.network_address), net.prefixlen, metric=METRIC_LOCAL,
                            type="local"))
    return IpConfig(tuple(addresses), tuple(routes), tuple(rules))


def _layout(iface: InterfaceData, family: int, subnet, gateway: str, addresses: List[Address],
            routes: List[Route], rules: List[Rule]) -> None:
    """One family's addresses, tables and rules of a NIC, appended to the lists."""
    listed = iface.addresses_of(family)
    table_subnet = TABLE_SUBNET_BASE + iface.index
    table_default = TABLE_DEFAULT_BASE + iface.index
    host = HOST_LEN[family]
    addresses += [Address(a, subnet.prefixlen) for a in listed]
    rules += [Rule(table_subnet, table_subnet, a, host, family=family) for a in listed]
    routes += [Route(str(net.network_address), net.prefixlen, metric=METRIC, table=table_subnet)
               for net in subnets_of(listed, subnet.prefixlen)]
    rules.append(Rule(PRIORITY_SUPPRESS, TABLE_MAIN, suppress_prefixlength=0, family=family))
    routes.append(Route(ANY[family], 0, next_hop=gateway, metric=METRIC, table=table_default))
    for cidr, hop in iface.routes:
        net = ipaddress.ip_network(cidr)
        if net.version == family:
            routes.append(Route(str(net.network_address), net.prefixlen, next_hop=hop,
                                metric=METRIC, table=table_default))
    rules += [Rule(table_default, table_default, a, host, family=family) for a in listed]
    if family == 4:
        more = _extra_entries(iface, table_subnet)
        addresses += more.addresses
        routes += more.routes
        rules += more.rules


def _extra_entries(iface: InterfaceData, table_subnet: int) -> IpConfig:
    """Further subnets: subnet route and rules in the NIC's subnet table, and each its
    own default-route table, so that each address leaves through its own gateway."""
    addresses: List[Address] = []
    routes: List[Route] = []
    rules: List[Rule] = []
    for number, net in enumerate(extra_networks(iface)):
        subnet = ipaddress.IPv4Network(net.subnet)
        table = extra_table(iface, number)
        gateway = net.gateway or str(subnet.network_address + 1)
        addresses += [Address(a, subnet.prefixlen) for a in net.addresses]
        routes.append(Route(str(subnet.network_address), subnet.prefixlen, metric=METRIC,
                            table=table_subnet))
        routes.append(Route("0.0.0.0", 0, next_hop=gateway, metric=METRIC, table=table))
        rules += [Rule(table_subnet, table_subnet, a, 32) for a in net.addresses]
        rules += [Rule(table, table, a, 32) for a in net.addresses]
    return IpConfig(tuple(addresses), tuple(routes), tuple(rules))


def desired(iface: InterfaceData, own: IpConfig, single_address: Single,
            families: Iterable[int] = FAMILIES, applied: Optional[IpConfig] = None,
            ours: bool = False) -> IpConfig:
    """The profile's own entries plus the cloud's, without duplicates.

    A family not in ``families`` is left exactly as ``applied`` has it.  The name
    servers are ``own``'s for a profile this tool made (``ours``: ``own`` is then
    ``static_base``), else left as applied.
    """
    cloud = cloud_entries(iface, single_address)
    addresses = _unique_by(own.addresses + cloud.addresses, lambda a: a.address)
    dns = own.dns if ours or applied is None else applied.dns
    wanted = IpConfig(addresses, _unique(own.routes + cloud.routes),
                      _unique(own.rules + cloud.rules), iface.mtu or own.mtu, dns)
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


@dataclass(frozen=True)
class Diff:
    """What moving from ``current`` to ``wanted`` adds and removes."""

    add_addresses: Tuple[Address, ...] = ()
    remove_addresses: Tuple[Address, ...] = ()
    add_routes: Tuple[Route, ...] = ()
    remove_routes: Tuple[Route, ...] = ()
    add_rules: Tuple[Rule, ...] = ()
    remove_rules: Tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return any((self.add_addresses, self.remove_addresses, self.add_routes,
                    self.remove_routes, self.add_rules, self.remove_rules))


def diff(current: IpConfig, wanted: IpConfig) -> Diff:
    """Set difference of two configurations (order of addresses aside)."""
    return Diff(
        add_addresses=_minus(wanted.addresses, current.addresses),
        remove_addresses=_minus(current.addresses, wanted.addresses),
        add_routes=_minus(wanted.routes, current.routes),
        remove_routes=_minus(current.routes, wanted.routes),
        add_rules=_minus(wanted.rules, current.rules),
        remove_rules=_minus(current.rules, wanted.rules),
    )


def _minus(items: Tuple[T, ...], other: Tuple[T, ...]) -> Tuple[T, ...]:
    exclude = set(other)
    return tuple(item for item in items if item not in exclude)


# -- moving entries between devices --------------------------------------------
#
# Within one run, whatever leaves a device is taken away before any device is given
# what arrives (an address moved from one NIC to another must never sit on both).
# So a device that both loses and gains first goes to an intermediate state: what
# it keeps, nothing added.  The functions below work on every tuple of entries of a
# configuration, whichever families it carries.


def _entry_fields(config: IpConfig) -> List[str]:
    return [f.name for f in dataclasses.fields(config)
            if isinstance(getattr(config, f.name), tuple)]


def loses(current: IpConfig, wanted: IpConfig) -> bool:
    """True when going from ``current`` to ``wanted`` takes any entry away."""
    return any(set(getattr(current, name)) - set(getattr(wanted, name))
               for name in _entry_fields(current))


def gains(current: IpConfig, wanted: IpConfig) -> bool:
    """True when going from ``current`` to ``wanted`` adds any entry."""
    return any(set(getattr(wanted, name)) - set(getattr(current, name))
               for name in _entry_fields(current))


def kept(current: IpConfig, wanted: IpConfig) -> IpConfig:
    """The intermediate state of a device: ``current`` minus what leaves, nothing added.

    Entries come in ``wanted``'s order, so a primary address that stays is first
    before and after; the other settings (the MTU) are ``wanted``'s.
    """
    changes = {}
    for name in _entry_fields(wanted):
        present = set(getattr(current, name))
        changes[name] = tuple(item for item in getattr(wanted, name) if item in present)
    return dataclasses.replace(wanted, **changes)


def withheld(wanted: IpConfig, addresses: Collection[str]) -> IpConfig:
    """``wanted`` without ``addresses`` (IP strings) and the rules routing from them.

    For a device that is to receive addresses another device still holds: they
    arrive on a later run, once they have left the other one.
    """
    if not addresses:
        return wanted
    blocked = set(addresses)
    changes = {}
    for name in _entry_fields(wanted):
        changes[name] = tuple(item for item in getattr(wanted, name)
                              if getattr(item, "address", None) not in blocked
                              and getattr(item, "from_addr", None) not in blocked)
    return dataclasses.replace(wanted, **changes)


def held(config: IpConfig) -> List[str]:
    """The IP addresses a configuration puts on its device."""
    return [item.address for name in _entry_fields(config) for item in getattr(config, name)
            if isinstance(item, Address)]


def claimed(config: IpConfig) -> List[str]:
    """The IP addresses a configuration puts on its device or has rules route from: while
    a device claims one, no other device may be given it."""
    return held(config) + [item.from_addr for name in _entry_fields(config)
                           for item in getattr(config, name)
                           if isinstance(item, Rule) and item.from_addr]


def merged(config: IpConfig, more: IpConfig) -> IpConfig:
    """``config`` plus the entries of ``more`` it lacks (after its own, in their order)."""
    changes = {}
    for name in _entry_fields(config):
        present = set(getattr(config, name))
        changes[name] = getattr(config, name) + tuple(
            item for item in getattr(more, name) if item not in present)
    return dataclasses.replace(config, **changes)


def without(config: IpConfig, other: IpConfig) -> IpConfig:
    """The entries of ``config`` that ``other`` does not hold (the rest of ``config`` as is)."""
    changes = {}
    for name in _entry_fields(config):
        drop = set(getattr(other, name))
        changes[name] = tuple(item for item in getattr(config, name) if item not in drop)
    return dataclasses.replace(config, **changes)


def departing(current: IpConfig, wanted: IpConfig) -> IpConfig:
    """The addresses ``current`` holds and ``wanted`` does not (by IP), with the rules that
    route from them: what a run would take off the device."""
    gone = set(held(current)) - set(held(wanted))
    changes = {}
    for name in _entry_fields(current):
        changes[name] = tuple(item for item in getattr(current, name)
                              if getattr(item, "address", None) in gone
                              or getattr(item, "from_addr", None) in gone)
    return dataclasses.replace(current, **changes)
