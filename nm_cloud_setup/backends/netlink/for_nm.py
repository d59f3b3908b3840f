"""The kernel's side of the NetworkManager backend.

Two things only the kernel can do for it:

- rules it had given NetworkManager, which forgot them in a restart, outlive
  their NIC: only the kernel can tell, and remove them (``backends/nm/record.py``);
- what a Reapply drops that is not NetworkManager's (another program's addresses
  and routes: keepalived's virtual IPs, a CNI's, an administrator's) is added
  again at once (``guard.py`` decides what; docs/sharing.md, "Foreign entries").

It works in NetworkManager's network namespace (found from its process), so it
sees the devices NetworkManager sees.  ``cli.py`` makes it, only when needed: a run
that reapplies nothing never loads netlink.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Collection, Dict, List, Optional, Sequence, Set, Tuple

from nm_cloud_setup.backends.netlink.guard import (PROTO_STATIC, ROUTE, Entry, Guard, Owned,
                                                   foreign_rules, left_in_place)
from nm_cloud_setup.backends.netlink.kernel import Events, Kernel
from nm_cloud_setup.backends.netlink.requests import rule_args
from nm_cloud_setup.errors import ApplyError, BackendError
from nm_cloud_setup.model import Rule
from nm_cloud_setup.planning.tables import Tables

LOG = logging.getLogger(__name__)

QUIET = 0.1  # seconds without an event on a guarded device: NetworkManager is done
SETTLE_LIMIT = 2.0
RETRY = 0.005


class KernelForNm:
    """The kernel of NetworkManager's process ``nm_pid`` (None: this process's own)."""

    def __init__(self, nm_pid: Optional[int] = None) -> None:
        self.netns = _netns_of(nm_pid)
        self.nm_pid = nm_pid
        self._kernel = Kernel(self.netns)
        self._events: Optional[Events] = None
        self._guard: Optional[Guard] = None
        self._lock = threading.Lock()
        self._retry: List[Tuple[Entry, float]] = []
        self._last_event = 0.0
        self._last_protect = 0.0
        self._names: Dict[int, str] = {}
        self._dump: Optional[List[Entry]] = None

    # -- rules NetworkManager forgot -------------------------------------------------

    def rules(self) -> List[Rule]:
        return self._kernel.rules()

    def links(self) -> List[str]:
        return [link.ifname for link in self._kernel.links()]

    def delete(self, rules: Sequence[Rule]) -> None:
        """Remove ``rules`` (one batch); ``ApplyError`` for the first that failed."""
        _, error = self._kernel.apply([("rule", "del", rule_args(rule, proto=None), str(rule))
                                       for rule in rules])
        if error is not None:
            raise error

    # -- what is another program's -----------------------------------------------------

    def left_in_place(self, ifname: str, addresses: Set[str],
                      routes: Set[Tuple[int, str, int]], gateways: Set[str],
                      tables: Tables) -> List[str]:
        """Another program's addresses and routes of ``ifname`` (``guard.left_in_place``)."""
        ifindex = self._kernel.index(ifname)
        if ifindex is None:
            return []
        owned = Owned(frozenset(addresses), frozenset(routes), frozenset(gateways))
        return left_in_place(self._entries(), ifindex, owned, tables)

    def foreign_rules(self, known: Collection[Rule], tables: Tables) -> List[str]:
        return foreign_rules(self._kernel.rules(), known, tables)

    def _entries(self) -> List[Entry]:
        if self._dump is None:
            self._dump = self._kernel.entries()
        return self._dump

    # -- the guard -------------------------------------------------------------------

    def protect(self, ifname: str, addresses: Set[str], routes: Set[Tuple[int, str, int]],
                gateways: Set[str]) -> List[Entry]:
        """``ifname`` is about to be reapplied, and NetworkManager holds of it
        ``addresses`` (IPs), ``routes`` ``(table, dest, prefix)`` and the default routes
        via ``gateways``: what else it has is foreign, to be put back if the Reapply
        drops it.  Starts following the kernel."""
        if self._guard is None:
            self._start()
        assert self._guard is not None
        index = self._kernel.index(ifname)
        if index is None:
            return []
        self._names[index] = ifname
        owned = Owned(frozenset(addresses), frozenset(routes), frozenset(gateways))
        with self._lock:
            self._last_protect = time.monotonic()
            return self._guard.protect(index, owned, self._last_protect)

    def _start(self) -> None:
        """Follow the kernel from now on, then read what it holds (so nothing is missed
        in between)."""
        self._guard = Guard(nm_ports(self.nm_pid) if self.nm_pid else set())
        self._events = Events(self.netns, self._on_event)
        entries = self._kernel.entries()
        with self._lock:
            for entry in entries:
                self._guard.seen(entry)

    def _on_event(self, event: str, entry: Entry, portid: int, at: float,
                  kernel: Kernel) -> None:
        """In the events thread: keep the state, and add back at once what the guard says."""
        with self._lock:
            assert self._guard is not None
            self._last_event = at
            if event.startswith("RTM_NEW"):
                self._guard.added(entry)
                todo: List[Tuple[Entry, float]] = []
            else:
                todo = [(e, at) for e in self._guard.gone(entry, portid, at)]
            todo += self._retry
            self._retry = []
            for restore, deleted_at in todo:
                self._add(kernel, restore, deleted_at)

    def _add(self, kernel: Kernel, entry: Entry, deleted_at: float) -> None:
        assert self._guard is not None
        if not self._guard.missing(entry):
            return  # back already (its owner, or NetworkManager)
        try:
            kernel.add(entry)
        except ApplyError as err:  # a route whose gateway is not reachable again yet
            if time.monotonic() - deleted_at < SETTLE_LIMIT:
                self._retry.append((entry, deleted_at))
            else:
                LOG.warning("cannot put back %s: %s", entry.text, err)
            return
        self._guard.note_restored(entry, deleted_at, time.monotonic())

    def finish(self) -> List[Tuple[str, str, float]]:
        """Wait until NetworkManager is done with the devices reapplied (every device
        bounced has its link-local address back, then no event for ``QUIET`` s; at most
        ``SETTLE_LIMIT`` s), retrying what could not be put back yet; (ifname, entry,
        seconds it was missing) of what was put back."""
        if self._events is None or self._guard is None:
            return []
        deadline = time.monotonic() + SETTLE_LIMIT
        while time.monotonic() < deadline:
            with self._lock:
                now = time.monotonic()
                quiet = now - max(self._last_event, self._last_protect)
                # A bounce's deletions come in two bursts about 0.17 s apart (its routes,
                # then its addresses, NetworkManager's IPv4 ones among them): not done
                # until the link-local address is back.
                waiting = bool(self._retry) or self._guard.bouncing()
            if quiet >= QUIET and not waiting:
                break
            time.sleep(RETRY if waiting else QUIET / 4)
        self._events.stop()
        with self._lock:
            return [(self._names.get(entry.ifindex, str(entry.ifindex)), entry.text,
                     restored - deleted) for entry, deleted, restored in self._guard.restored]

    def prune(self, stale: Dict[str, Set[Tuple[Optional[int], str, int, Optional[int]]]]
              ) -> List[Tuple[str, str]]:
        """Remove the static routes of ``stale`` (ifname -> (table, dest, prefix, metric);
        metric None: any) the kernel still holds, after ``finish``: routes
        NetworkManager had, and left behind (``foreign.py``).  (ifname, route) removed."""
        if self._guard is None or not stale:
            return []
        removed = []
        for ifname, keys in stale.items():
            ifindex = self._kernel.index(ifname)
            for entry in list(self._guard.entries.get(ifindex, {}).values()) if ifindex else []:
                if entry.kind != ROUTE or entry.proto != PROTO_STATIC:
                    continue
                table, dest, prefix, metric = entry.key
                if (table, dest, prefix, metric) in keys or (table, dest, prefix, None) in keys:
                    if self._kernel.change("route", "del", what=entry.text, **dict(entry.args)):
                        removed.append((ifname, entry.text))
        return removed

    def close(self) -> None:
        if self._events is not None:
            self._events.stop()
        self._kernel.close()


def _netns_of(pid: Optional[int]) -> Optional[str]:
    if pid is None:
        return None
    path = f"/proc/{pid}/ns/net"
    return path if os.path.exists(path) else None


def nm_ports(pid: int) -> Set[int]:
    """The netlink ports of process ``pid``'s rtnetlink sockets: the kernel names the
    asker of an IPv4 change by its port."""
    try:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except FileNotFoundError:  # closed since it was listed (found by the soak)
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
        rows = Path(f"/proc/{pid}/net/netlink").read_text().splitlines()[1:]
    except OSError as err:
        raise BackendError(f"cannot read NetworkManager's netlink sockets ({err})") from None
    ports = set()
    for row in rows:
        fields = row.split()
        if len(fields) >= 10 and fields[1] == "0" and int(fields[9]) in inodes:
            ports.add(int(fields[2]))
    return ports | {pid}
