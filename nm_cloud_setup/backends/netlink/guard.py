"""What a NetworkManager Reapply drops that is not NetworkManager's, and what to put back.

Pure: kernel entries and events in, entries to add again out.  ``for_nm.py`` feeds
it from a netlink socket in NetworkManager's namespace (``kernel.py``).

A Reapply of a device takes two kinds of entry that another program put there
(docs/backends.md, "Foreign entries"):

- IPv4: without the preserve-external-ip flag (which NetworkManager before 1.52
  must get while the connection's IPv6 is active), NetworkManager deletes every
  IPv4 address and main-table route of the device it did not add.  The kernel
  names NetworkManager's netlink socket as the one that asked (``portid``).
- IPv6: every Reapply on NetworkManager 1.42 and 1.52 (and, from 1.56, one that
  changes IPv6) turns IPv6 off and on for the device (``disable_ipv6``): the
  kernel deletes all its IPv6 routes and addresses at once, the link-local one
  with them, and NetworkManager adds back only its own.  IPv6 deletions never
  name who asked: the burst that takes the link-local address is the mark.

Such an entry is added again at once, if it is foreign: not NetworkManager's own
(``Owned``: the applied connection's entries, its DHCP addresses, the gateway's
default route) nor dynamic (link-local, a finite lifetime, a route of the kernel,
of router advertisements or of DHCP).  Any other deletion, by any other program,
is its owner's doing and stays done: an address that keepalived removed during
the run (a failover) never comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Dict, FrozenSet, List, Optional, Tuple

ADDR, ROUTE = "addr", "route"
PROTO_KERNEL, PROTO_STATIC, PROTO_RA, PROTO_DHCP = 2, 4, 9, 16
TABLE_LOCAL = 255
BURST = 0.05  # seconds: how near the link-local deletion a bounce's other deletions are


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
    bounce_at: Optional[float] = None
    held: List[Tuple[float, Entry]] = field(default_factory=list)  # IPv6 deletions


class Guard:
    """The state of one run: each device's entries (from a dump, then events), and the
    devices being reapplied (``protect``).  ``nm_ports``: NetworkManager's netlink
    ports."""

    def __init__(self, nm_ports: AbstractSet[int], burst: float = BURST) -> None:
        self.nm_ports = set(nm_ports)
        self.burst = burst
        self.entries: Dict[int, Dict[tuple, Entry]] = {}
        self.devices: Dict[int, _Device] = {}
        self.restored: List[Tuple[Entry, float, float]] = []  # (entry, deleted, restored)

    def seen(self, entry: Entry) -> None:
        """The entry is in the kernel (a dump, or an addition)."""
        self.entries.setdefault(entry.ifindex, {})[(entry.kind, entry.key)] = entry

    def protect(self, ifindex: int, owned: Owned, at: float) -> List[Entry]:
        """The device is about to be reapplied; its foreign entries now."""
        device = self.devices.get(ifindex)
        if device is None:
            self.devices[ifindex] = _Device(owned, at)
        else:
            device.owned = owned
        return [e for e in self.entries.get(ifindex, {}).values() if foreign(e, owned)]

    def gone(self, entry: Entry, portid: int, at: float) -> List[Entry]:
        """A deletion event; the entries to add again now (this one, or a bounce's)."""
        known = self.entries.get(entry.ifindex, {}).pop((entry.kind, entry.key), entry)
        device = self.devices.get(entry.ifindex)
        if device is None or at < device.since:
            return []
        if entry.family == 4:
            if portid in self.nm_ports and foreign(known, device.owned):
                return [known]
            return []
        if portid != 0:
            return []
        if entry.link_local:  # the bounce: what it took just before goes back too
            if device.bounce_at is not None and at - device.bounce_at <= self.burst:
                return []
            device.bounce_at = at
            taken = [e for when, e in device.held if at - when <= self.burst]
            device.held = []
            return _ordered(taken)
        if not foreign(known, device.owned):
            return []
        if device.bounce_at is not None and at - device.bounce_at <= self.burst:
            return [known]
        device.held.append((at, known))
        return []

    def note_restored(self, entry: Entry, deleted_at: float, restored_at: float) -> None:
        self.restored.append((entry, deleted_at, restored_at))

    def missing(self, entry: Entry) -> bool:
        return (entry.kind, entry.key) not in self.entries.get(entry.ifindex, {})


def _ordered(entries: List[Entry]) -> List[Entry]:
    """Addresses before routes: a route's gateway is reached through an address."""
    return sorted(entries, key=lambda e: e.kind != ADDR)
