"""What the netlink backend may change: pure functions over the kernel's state.

The kernel is shared with DHCP clients, container runtimes and admins, so the
netlink backend removes only what it created itself:
- routes carry the routing protocol number ``PROTO`` (ownership is in the kernel);
- addresses and rules it added are kept in a ``Record`` (a JSON file in /run);
- an entry that already exists (the DHCP primary, an admin's identical rule) is
  never added, so it is never recorded, so it is never removed;
- a link's MTU it changed is recorded with the value before, which it goes back to
  when the cloud stops giving one (``planning/mtu.py``).
No I/O here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from nm_cloud_setup.model import Address, IpConfig, Route, Rule
from nm_cloud_setup.planning import mtu
from nm_cloud_setup.planning.delta import Diff

PROTO = 213  # "nm-cloud-setup" in /etc/iproute2/rt_protos.d/nm-cloud-setup.conf
TABLE_LOCAL = 255
TABLE_MAIN = 254


@dataclass(frozen=True)
class KernelView:
    """One device's state, both families: all its addresses, our routes on it, all rules."""

    addresses: Tuple[Address, ...] = ()
    routes: Tuple[Route, ...] = ()
    rules: Tuple[Rule, ...] = ()


@dataclass
class Record:
    """Addresses and rules the backend added, per interface name; ``links``: the NICs of
    static networks it brought up itself (OpenStack), whose whole configuration is its;
    ``mtus``: (the MTU before, the one it set) of each other link whose MTU it set."""

    addresses: Dict[str, List[Address]] = field(default_factory=dict)
    rules: Dict[str, List[Rule]] = field(default_factory=dict)
    links: List[str] = field(default_factory=list)
    mtus: Dict[str, Tuple[int, int]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({
            "version": 1,
            "addresses": {dev: [str(a) for a in items] for dev, items in self.addresses.items()},
            "rules": {dev: [_rule_dict(r) for r in items] for dev, items in self.rules.items()},
            "links": self.links,
            "mtus": {dev: list(pair) for dev, pair in self.mtus.items()},
        }, sort_keys=True)  # compact: the C encoder (written before and after each change)

    @classmethod
    def from_json(cls, text: str) -> "Record":
        """Parse a record; ValueError when it is not one (the caller starts afresh)."""
        try:
            doc = json.loads(text)
            addresses = {dev: [_address(a) for a in items]
                         for dev, items in doc.get("addresses", {}).items()}
            rules = {dev: [Rule(**r) for r in items] for dev, items in doc.get("rules", {}).items()}
            links = [str(name) for name in doc.get("links", [])]
            mtus = {str(dev): _mtu_pair(pair) for dev, pair in doc.get("mtus", {}).items()}
        except (ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"not a netlink ownership record ({err})") from None
        return cls(addresses, rules, links, mtus)

    def without(self, ifname: str) -> "Record":
        """The record with nothing of ``ifname`` (its link is gone)."""
        return Record({d: a for d, a in self.addresses.items() if d != ifname},
                      {d: r for d, r in self.rules.items() if d != ifname},
                      [name for name in self.links if name != ifname],
                      {d: m for d, m in self.mtus.items() if d != ifname})

    def others_rules(self, ifname: str) -> Iterable[Rule]:
        for dev, items in self.rules.items():
            if dev != ifname:
                yield from items


def _mtu_pair(pair: object) -> Tuple[int, int]:
    if (not isinstance(pair, list) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
        raise ValueError(f"the MTUs {pair!r} are not two numbers")
    return (pair[0], pair[1])


def _rule_dict(rule: Rule) -> Dict[str, object]:
    return {"priority": rule.priority, "table": rule.table, "from_addr": rule.from_addr,
            "from_len": rule.from_len, "suppress_prefixlength": rule.suppress_prefixlength,
            "family": rule.family}


def _address(text: str) -> Address:
    address, _, prefix = text.partition("/")
    return Address(address, int(prefix))


def normalize_route(route: Route) -> Route:
    """Kernel form: ``type local`` routes live in the local table, others without a table
    in the main one."""
    if route.table is None:
        return Route(route.dest, route.prefix, route.next_hop, route.metric,
                     TABLE_LOCAL if route.type == "local" else TABLE_MAIN, route.type)
    return route


def plan_route(route: Route) -> Route:
    """The plan's form of a kernel route: ``type local`` routes name no table."""
    if route.type == "local" and route.table == TABLE_LOCAL:
        return Route(route.dest, route.prefix, route.next_hop, route.metric, None, route.type)
    return route


def changes(view: KernelView, record: Record, ifname: str, wanted: IpConfig) -> Diff:
    """The netlink changes that bring one device to ``wanted`` without touching others' entries.

    A rule another device also holds in the record (the shared 30350 rule) stays.
    """
    # Sets throughout: a NIC may have hundreds of addresses and rules (15 x 50 on EC2).
    present = {a.address for a in view.addresses}
    in_kernel, wanted_set = set(view.addresses), set(wanted.addresses)
    # Ours and no longer wanted as they are: gone from the plan, or wanted with another
    # prefix (a subnet resized), which is then added again with the new one.  An
    # address that is not ours is never touched, whatever its prefix.
    stale = tuple(a for a in record.addresses.get(ifname, [])
                  if a in in_kernel and a not in wanted_set)
    freed = {a.address for a in stale}
    wanted_routes = _unique([normalize_route(r) for r in wanted.routes])
    wanted_route_set = set(wanted_routes)
    kernel_routes = set(view.routes)
    kernel_rules = set(view.rules)
    keep_rules = set(wanted.rules) | set(record.others_rules(ifname))
    return Diff(
        add_addresses=tuple(a for a in wanted.addresses
                            if a not in in_kernel and (a.address not in present
                                                       or a.address in freed)),
        remove_addresses=stale,
        add_routes=tuple(r for r in wanted_routes if r not in kernel_routes),
        remove_routes=tuple(r for r in view.routes if r not in wanted_route_set),
        add_rules=tuple(r for r in _unique(wanted.rules) if r not in kernel_rules),
        remove_rules=tuple(r for r in record.rules.get(ifname, [])
                           if r not in keep_rules and r in kernel_rules),
    )


def recorded(record: Record, ifname: str, wanted: IpConfig, diff: Diff) -> Record:
    """The record after applying ``diff``: what we added, minus what we removed.

    A wanted rule that another device recorded is co-owned by this one too, so it
    stays until no device wants it.
    """
    removed_addresses = set(diff.remove_addresses)
    addresses = [a for a in record.addresses.get(ifname, []) if a not in removed_addresses]
    addresses = _unique(addresses + list(diff.add_addresses))
    removed_rules = set(diff.remove_rules)
    rules = [r for r in record.rules.get(ifname, []) if r not in removed_rules]
    shared = set(record.others_rules(ifname))
    rules = _unique(rules + list(diff.add_rules) + [r for r in wanted.rules if r in shared])
    new = Record(dict(record.addresses), dict(record.rules), list(record.links),
                 dict(record.mtus))
    new.addresses[ifname] = addresses
    new.rules[ifname] = rules
    return new


def leftovers(record: Record, gone: Iterable[str], kernel_rules: Iterable[Rule]
              ) -> Tuple[List[Rule], Record]:
    """The rules to remove for interfaces that are gone, and the record without them.

    A NIC unplugged takes its addresses and routes with it, not its rules: left, they
    would send an address the cloud gives to another NIC to the gone NIC's tables.  A
    rule another interface also holds (the shared 30350 one) stays.
    """
    gone = set(gone)
    kept = {r for dev, items in record.rules.items() if dev not in gone for r in items}
    present = set(kernel_rules)
    remove = _unique([r for dev in sorted(gone) for r in record.rules.get(dev, [])
                      if r in present and r not in kept])
    return remove, Record({d: a for d, a in record.addresses.items() if d not in gone},
                          {d: r for d, r in record.rules.items() if d not in gone},
                          [name for name in record.links if name not in gone],
                          {d: m for d, m in record.mtus.items() if d not in gone})


def own_mtu(record: Record, ifname: str) -> Tuple[Optional[int], Optional[int]]:
    """(the link's MTU before this backend set one, the one it set), or (None, None)."""
    before, mine = record.mtus.get(ifname, (None, None))
    return before, mine


def with_mtu(record: Record, ifname: str, link_mtu: Optional[int],
             wanted_mtu: Optional[int]) -> Record:
    """The record once the link ``ifname`` (its MTU now ``link_mtu``) has ``wanted_mtu``:
    the MTU this backend set, with the one before it, or nothing when it set none or
    went back to the one before.  A link it brought up itself is its whole (not here)."""
    if ifname in record.links:
        return record
    before, mine = own_mtu(record, ifname)
    now = mtu.recorded(wanted_mtu, before, link_mtu, mine)
    mtus = {d: m for d, m in record.mtus.items() if d != ifname}
    if now is not None:
        mtus[ifname] = (before if before is not None else link_mtu or now, now)
    if mtus == record.mtus:
        return record
    return dataclasses.replace(record, mtus=mtus)


def _unique(items: List) -> List:
    return list(dict.fromkeys(items))
