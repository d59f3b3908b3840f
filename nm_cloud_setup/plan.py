"""The desired IPv4 configuration of a device: pure functions, no I/O.

Upstream nm-cloud-setup's layout, exactly: per NIC with table index IDX,
- every metadata address with the subnet's prefix, primary first;
- route SUBNET metric 10 table 30200+IDX (one per distinct subnet of the addresses),
  rule priority 30200+IDX from ADDR/32 table 30200+IDX;
- rule priority 30350 table main suppress_prefixlength 0;
- route 0.0.0.0/0 via GW metric 10 table 30400+IDX,
  rule priority 30400+IDX from ADDR/32 table 30400+IDX;
- per locally delivered IP (GCP forwarded IPs): route IP/32 metric 100 type local.
Everything starts from the profile's own entries, so a rerun is stable and
entries the cloud no longer lists vanish.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, List, Tuple, TypeVar

from nm_cloud_setup.model import Address, InstanceData, InterfaceData, Ipv4Config, Route, Rule

TABLE_SUBNET_BASE = 30200
PRIORITY_SUPPRESS = 30350
TABLE_DEFAULT_BASE = 30400
MAX_INTERFACES = 100
TABLE_MAIN = 254
METRIC = 10
METRIC_LOCAL = 100

T = TypeVar("T")


def is_single_address(instance: InstanceData) -> bool:
    """True when the instance has at most one valid NIC with at most one address.

    Then upstream adds no addresses, rules or tables (DHCP does it all), only
    locally delivered routes.  The listed NICs that are no local NIC's count as
    NICs (upstream fetches and counts them).  If any NIC's data failed, the answer
    is unknown: callers check ``instance.failed`` first.
    """
    valid = [iface for iface in instance.interfaces if iface.valid]
    return (len(valid) + len(instance.unmatched) <= 1
            and sum(len(iface.addresses) for iface in valid) <= 1)


def gateway_of(iface: InterfaceData) -> str:
    """The metadata gateway, else the first host of the subnet (EC2, Azure; a /32's
    own address, as upstream)."""
    if iface.gateway:
        return iface.gateway
    assert iface.subnet is not None
    subnet = ipaddress.IPv4Network(iface.subnet)
    return str(subnet.network_address + (1 if subnet.prefixlen < 32 else 0))


def subnets_of(addresses: Iterable[str], prefix: int) -> Tuple[ipaddress.IPv4Network, ...]:
    """Each address's subnet with the NIC's prefix, once each, in order (upstream: an
    address outside the NIC's subnet brings a route for its own)."""
    return tuple(dict.fromkeys(ipaddress.IPv4Network(f"{a}/{prefix}", strict=False)
                               for a in addresses))


def cloud_entries(iface: InterfaceData, single_address: bool = False) -> Ipv4Config:
    """What the cloud metadata adds to a device, in upstream's layout."""
    routes: List[Route] = []
    rules: List[Rule] = []
    addresses: Tuple[Address, ...] = ()
    if iface.has_addresses and not single_address:
        assert iface.subnet is not None
        subnet = ipaddress.IPv4Network(iface.subnet)
        addresses = tuple(Address(a, subnet.prefixlen) for a in iface.addresses)
        table_subnet = TABLE_SUBNET_BASE + iface.index
        table_default = TABLE_DEFAULT_BASE + iface.index
        rules += [Rule(table_subnet, table_subnet, a, 32) for a in iface.addresses]
        routes += [Route(str(net.network_address), net.prefixlen, metric=METRIC,
                         table=table_subnet)
                   for net in subnets_of(iface.addresses, subnet.prefixlen)]
        rules.append(Rule(PRIORITY_SUPPRESS, TABLE_MAIN, suppress_prefixlength=0))
        routes.append(Route("0.0.0.0", 0, next_hop=gateway_of(iface), metric=METRIC,
                            table=table_default))
        for cidr, gateway in iface.routes:
            net = ipaddress.IPv4Network(cidr)
            routes.append(Route(str(net.network_address), net.prefixlen, next_hop=gateway,
                                metric=METRIC, table=table_default))
        rules += [Rule(table_default, table_default, a, 32) for a in iface.addresses]
    for cidr in iface.local_routes:
        net = ipaddress.IPv4Network(cidr)
        routes.append(Route(str(net.network_address), net.prefixlen, metric=METRIC_LOCAL,
                            type="local"))
    return Ipv4Config(addresses, tuple(routes), tuple(rules))


def desired(iface: InterfaceData, own: Ipv4Config, single_address: bool) -> Ipv4Config:
    """The profile's own entries plus the cloud's, without duplicates."""
    cloud = cloud_entries(iface, single_address)
    addresses = _unique_by(own.addresses + cloud.addresses, lambda a: a.address)
    return Ipv4Config(addresses, _unique(own.routes + cloud.routes),
                      _unique(own.rules + cloud.rules), iface.mtu or own.mtu)


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


def diff(current: Ipv4Config, wanted: Ipv4Config) -> Diff:
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
