"""What a NetworkManager Reapply drops that is not NetworkManager's, and what to put back.

Pure: kernel entries and events in, entries to add again out.  ``for_nm.py`` feeds
it from a netlink socket in NetworkManager's namespace (``kernel.py``).

A Reapply of a device takes two kinds of entry that another program put there
(docs/sharing.md, "Foreign entries"):

- IPv4: without the preserve-external-ip flag (which NetworkManager before 1.52
  must get while the connection's IPv6 is active), NetworkManager deletes every
  IPv4 address and main-table route of the device it did not add.  The kernel
  names NetworkManager's netlink socket as the one that asked (``portid``).
- IPv6: every Reapply on NetworkManager 1.42 and 1.52 (and, from 1.56, one that
  changes IPv6) turns IPv6 off and on for the device (``disable_ipv6``): the
  kernel deletes all its IPv6 routes and addresses at once, the link-local one
  with them; NetworkManager then deletes whatever of the device's IPv6 it does
  not hold (what is back already) and adds its own, the link-local address first.
  IPv6 address deletions never name who asked: the unbroken run of deletions that
  takes the link-local prefix route, then the addresses, is the mark (``Guard``),
  and until NetworkManager's link-local address is back, its deletions follow.

Such an entry is added again at once, if it is foreign: not NetworkManager's own
(``Owned``: the applied connection's entries, its DHCP addresses, the gateway's
default route) nor dynamic (link-local, a finite lifetime, a route of the kernel,
of router advertisements or of DHCP).  Any other deletion, by any other program,
is its owner's doing and stays done: an address that keepalived removed during
the run (a failover) never comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Collection, Dict, FrozenSet, Iterable, List, Optional, Tuple

from nm_cloud_setup.model import Rule
from nm_cloud_setup.planning.tables import Tables

ADDR, ROUTE = "addr", "route"
INSIDE = "this tool's"  # the mark of what is inside the layout's ranges
PROTO_KERNEL, PROTO_STATIC, PROTO_RA, PROTO_DHCP = 2, 4, 9, 16
TABLE_LOCAL = 255
SETTLING = 0.25  # seconds after a bounce NetworkManager may still delete (link-local not back)


@dataclass(frozen=True)
class Entry:
    """An address or route of a device as the kernel has it.

    ``key`` identifies it (an address: ``(ip, prefix)``; a route: ``(table, dest,
    prefix, metric)``); ``args`` are pyroute2's arguments to add it again.
    """

    kind: str
    ifindex: int
    family: int
    key: tuple
    args: Tuple[Tuple[str, object], ...] = ()
    proto: int = 0
    permanent: bool = True
    link_local: bool = False
    gateway: Optional[str] = None

    @property
    def text(self) -> str:
        if self.kind == ADDR:
            return f"address {self.key[0]}/{self.key[1]}"
        table, dest, prefix, metric = self.key
        return (f"route {dest}/{prefix}" + (f" via {self.gateway}" if self.gateway else "")
                + f" table {table}" + (f" metric {metric}" if metric is not None else ""))


@dataclass(frozen=True)
class Owned:
    """What NetworkManager holds of a device: its connection's addresses (IPs) and
    routes ``(table, dest, prefix)`` (table 254 for the main one), its DHCP addresses,
    and its gateways (their default routes are its own)."""

    addresses: FrozenSet[str] = frozenset()
    routes: FrozenSet[Tuple[int, str, int]] = frozenset()
    gateways: FrozenSet[str] = frozenset()


def foreign(entry: Entry, owned: Owned) -> bool:
    """Whether ``entry`` is another program's: neither NetworkManager's nor dynamic."""
    if entry.link_local or not entry.permanent:
        return False
    if entry.kind == ADDR:
        return entry.key[0] not in owned.addresses
    table, dest, prefix, _ = entry.key
    if table == TABLE_LOCAL or entry.proto in (PROTO_KERNEL, PROTO_RA, PROTO_DHCP):
        return False
    if entry.proto == PROTO_STATIC and (
            (table, dest, prefix) in owned.routes
            or (prefix == 0 and entry.gateway in owned.gateways)):
        return False
    return True


@dataclass
class _Device:
    owned: Owned
    since: float


class Guard:
    """The state of one run: each device's entries (from a dump, then events), and the
    devices being reapplied (``protect``).  ``nm_ports``: NetworkManager's netlink
    ports.  Events must come in the kernel's order (one socket)."""

    def __init__(self, nm_ports: AbstractSet[int]) -> None:
        self.nm_ports = set(nm_ports)
        self.entries: Dict[int, Dict[tuple, Entry]] = {}
        self.devices: Dict[int, _Device] = {}
        self.restored: List[Tuple[Entry, float, float]] = []  # (entry, deleted, restored)
        # The IPv6 bounce runs under the kernel's rtnetlink lock: its deletions come in
        # one unbroken run, the device's routes first (the link-local prefix and the
        # multicast route among them: the mark), then its addresses, the link-local one
        # last.  No other program's change can fall inside that run.
        self._run: Optional[int] = None  # the device of the current run of IPv6 deletions
        self._run_routes: List[Entry] = []  # its foreign routes, before the mark
        self._bounce = False
        # Devices bounced whose link-local address NetworkManager has not added back: it
        # still deletes (what was put back already is not its own) -> until when.
        self._settling: Dict[int, float] = {}

    def seen(self, entry: Entry) -> None:
        """The entry is in the kernel (a dump, or an addition)."""
        self.entries.setdefault(entry.ifindex, {})[(entry.kind, entry.key)] = entry

    def protect(self, ifindex: int, owned: Owned, at: float) -> List[Entry]:
        """The device is about to be reapplied; its foreign entries now.

        What NetworkManager held at any Reapply of the run stays its own: an entry the
        first of two Reapplies takes away (a move, a subnet resized) may go only in the
        second, or after it, and is then no other program's to put back."""
        device = self.devices.get(ifindex)
        if device is None:
            device = self.devices[ifindex] = _Device(owned, at)
        else:
            device.owned = Owned(device.owned.addresses | owned.addresses,
                                 device.owned.routes | owned.routes,
                                 device.owned.gateways | owned.gateways)
        return [e for e in self.entries.get(ifindex, {}).values() if foreign(e, device.owned)]

    def added(self, entry: Entry) -> None:
        """An addition event."""
        self._end_run()
        if entry.kind == ADDR and entry.link_local:
            self._settling.pop(entry.ifindex, None)  # NetworkManager's commit is done
        self.seen(entry)

    def gone(self, entry: Entry, portid: int, at: float) -> List[Entry]:
        """A deletion event; the entries to add again now (this one, or a bounce's)."""
        known = self.entries.get(entry.ifindex, {}).pop((entry.kind, entry.key), entry)
        device = self.devices.get(entry.ifindex)
        ipv6_kernel = entry.family == 6 and portid == 0
        if not ipv6_kernel or self._run != entry.ifindex:
            self._end_run()
            self._run = entry.ifindex if ipv6_kernel else None
        if device is None or at < device.since:
            return []
        if portid in self.nm_ports:  # NetworkManager asked (IPv4, and IPv6 routes)
            return [known] if foreign(known, device.owned) else []
        if not ipv6_kernel:
            return []
        mark = entry.kind == ROUTE and (entry.link_local or entry.key[1].lower() == "ff00::")
        if mark and not self._bounce:
            self._bounce = True
            self._settling[entry.ifindex] = at + SETTLING
            taken, self._run_routes = self._run_routes, []
            return taken
        if not foreign(known, device.owned):
            if entry.kind == ADDR and entry.link_local:
                self._end_run()  # the bounce's last deletion
            return []
        if self._bounce or at < self._settling.get(entry.ifindex, 0.0):
            return [known]
        if entry.kind == ROUTE:
            self._run_routes.append(known)
        return []

    def bouncing(self) -> bool:
        """Whether a device bounced is still in NetworkManager's commit (its link-local
        address not back): more deletions are to come, IPv4 ones among them."""
        return bool(self._settling)

    def _end_run(self) -> None:
        self._run, self._run_routes, self._bounce = None, [], False

    def note_restored(self, entry: Entry, deleted_at: float, restored_at: float) -> None:
        self.restored.append((entry, deleted_at, restored_at))

    def missing(self, entry: Entry) -> bool:
        return (entry.kind, entry.key) not in self.entries.get(entry.ifindex, {})


def left_in_place(entries: Iterable[Entry], ifindex: int, owned: Owned,
                  tables: Tables) -> List[str]:
    """Another program's addresses and routes of a device, left in place (``status``);
    those in the layout's tables are marked."""
    return [e.text + (f" (in {INSIDE} tables)" if e.kind == ROUTE
                      and tables.owns_table(e.key[0]) else "")
            for e in entries if e.ifindex == ifindex and foreign(e, owned)]


def foreign_rules(rules: Iterable[Rule], known: Collection[Rule], tables: Tables) -> List[str]:
    """The rules in the layout's priorities that are not the run's (``known``): another
    program's, left in place."""
    mine = {_rule_key(r) for r in known}
    return [f"rule {rule} (in {_range_of(tables, rule.priority)})" for rule in rules
            if tables.owns_priority(rule.priority) and _rule_key(rule) not in mine]


def _rule_key(rule: Rule) -> tuple:
    return (rule.priority, rule.table, rule.from_addr, rule.from_len,
            rule.suppress_prefixlength, rule.family)


def _range_of(tables: Tables, priority: int) -> str:
    for name, span in tables.priority_ranges():
        if priority in span:
            return f"{INSIDE} {name}"
    return f"{INSIDE} priorities"


def _ordered(entries: List[Entry]) -> List[Entry]:
    """Addresses before routes: a route's gateway is reached through an address."""
    return sorted(entries, key=lambda e: e.kind != ADDR)
