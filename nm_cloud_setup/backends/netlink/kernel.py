"""The kernel, read and changed over netlink: the only pyroute2 user.

``Kernel`` speaks the model's values: links, and the addresses, routes and rules
of both families, read as ``Address``, ``Route`` and ``Rule`` (through ``dump.py``,
without pyroute2); a change is pyroute2's keyword arguments (``requests.py`` builds
them), and an entry already gone (a removal) or already there (an addition) is
no error.  The backend's changes go in batches over the standard library's socket
(``apply``, through ``batch.py``); pyroute2 is imported only to put back the
entries the guard found missing (``add``, ``change``: whatever attributes the
kernel had reported): a run of the netlink backend never imports it.  ``Events``
follows the kernel's address and route changes in a thread of its own (read
through ``dump.py`` too), for the NetworkManager backend's guard (``for_nm.py``).
Either can work in another network namespace (NetworkManager's, given as
``/proc/PID/ns/net``).  Uses only the pyroute2 API that 0.7.2 (Debian 12) and 0.9
share.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from nm_cloud_setup.backends.netlink import batch, dump
from nm_cloud_setup.backends.netlink.guard import ADDR, ROUTE, Entry
from nm_cloud_setup.backends.netlink.requests import AF, describe
from nm_cloud_setup.errors import ApplyError, BackendError
from nm_cloud_setup.model import Address, Route, Rule, normalize_mac

LOG = logging.getLogger(__name__)

ANY = {4: "0.0.0.0", 6: "::"}
ARPHRD_ETHER = 1
IFF_UP = 0x1
RTN_LOCAL = 2
ETHERNET_KINDS = (None, "veth")
_GONE = (errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL)
CLONE_NEWNET = 0x40000000
# rtnetlink multicast groups: IPv4 and IPv6 addresses and routes
_GROUPS = 0x10 | 0x40 | 0x100 | 0x400
# Address flags one may set (nodad, homeaddress, mngtmpaddr, noprefixroute, autojoin)
_IFA_SETTABLE = 0x02 | 0x10 | 0x100 | 0x200 | 0x400
_RTNH_F_ONLINK = 0x4
FOREVER = 0xFFFFFFFF
# The attributes read (linux/if_link.h, if_addr.h, rtnetlink.h, fib_rules.h)
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO = 1, 3, 4, 10, 18
IFLA_PERM_ADDRESS = 54
IFLA_INFO_KIND = 1
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 4, 6, 8
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15
FRA_SRC, FRA_PRIORITY, FRA_SUPPRESS_PREFIXLEN, FRA_TABLE = 2, 6, 14, 15


# A change: kind ("addr", "route", "rule", "link"), command ("add", "del", "set"),
# pyroute2's arguments, and what to call it in an error (None: the arguments)
Change = Tuple[str, str, Dict[str, Any], Optional[str]]


@dataclass(frozen=True)
class Link:
    """A link as the backend needs it: ``ethernet`` when it is a physical NIC or a veth
    that is not enslaved; ``mac`` its permanent address, else its current one."""

    index: int
    ifname: str
    mac: Optional[str]
    ethernet: bool
    up: bool
    mtu: Optional[int]


@contextlib.contextmanager
def entered(netns: Optional[str]) -> Iterator[None]:
    """Run the body in the network namespace ``netns`` (this thread only; a socket made
    there stays there); no change when it is None or this thread's own."""
    if netns is None or os.stat(netns).st_ino == os.stat("/proc/thread-self/ns/net").st_ino:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"cannot enter the network namespace {netns}")
        try:
            yield
        finally:
            libc.setns(home, CLONE_NEWNET)
    finally:
        os.close(home)
        os.close(target)


class Kernel:
    """The kernel of ``netns`` (None: this thread's); ``BackendError`` when its netlink
    socket cannot be opened."""

    def __init__(self, netns: Optional[str] = None) -> None:
        self._netns = netns
        self._iproute: Any = None
        self._seq = 1 << 30  # the batches' sequence numbers, apart from the dumps'
        try:
            with entered(netns):
                self._dumper = dump.Dumper()
        except OSError as err:
            raise BackendError(f"cannot open a netlink socket ({err})") from None

    @property
    def _ipr(self) -> Any:
        """pyroute2's socket, made when first needed (in ``netns``)."""
        if self._iproute is None:
            from pyroute2 import IPRoute, NetlinkError

            try:
                with entered(self._netns):
                    self._iproute = IPRoute()
            except (OSError, NetlinkError) as err:
                raise BackendError(f"cannot open a netlink socket ({err})") from None
        return self._iproute

    def close(self) -> None:
        self._dumper.close()
        if self._iproute is not None:
            self._iproute.close()

    def links(self) -> List[Link]:
        return [_link(*found) for found in self._dumper.links()]

    def link(self, index: int) -> Optional[Link]:
        """The link ``index``; None when it is gone (unplugged since it was listed)."""
        found = list(self._dumper.links(index))
        return _link(*found[0]) if found else None

    def exists(self, ifname: str) -> bool:
        return self.index(ifname) is not None

    def index(self, ifname: str) -> Optional[int]:
        return next((link.index for link in self.links() if link.ifname == ifname), None)

    def addresses(self) -> Dict[int, List[Address]]:
        """Every address of both families, by link index."""
        by_index: Dict[int, List[Address]] = {}
        for af in AF.values():
            for (_, prefix, _, _, index), found in self._dumper.addresses(af):
                by_index.setdefault(index, []).append(Address(
                    dump.ip(af, found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)), prefix))
        return by_index

    def routes(self, proto: int) -> Dict[int, List[Route]]:
        """The routes of protocol ``proto``, both families, every table, by outgoing link
        (the kernel filters the dump)."""
        by_oif: Dict[int, List[Route]] = {}
        for family, af in AF.items():
            for (_, dst_len, _, _, table, _, _, kind, _), found in self._dumper.routes(af, proto):
                by_oif.setdefault(dump.u32(found.get(RTA_OIF)), []).append(Route(
                    dest=dump.ip(af, found.get(RTA_DST)) or ANY[family], prefix=dst_len,
                    next_hop=dump.ip(af, found.get(RTA_GATEWAY)),
                    metric=dump.u32(found.get(RTA_PRIORITY)),
                    table=dump.u32(found.get(RTA_TABLE)) or table,
                    type="local" if kind == RTN_LOCAL else None))
        return by_oif

    def rules(self) -> List[Rule]:
        """Every rule of both families."""
        rules = []
        for family, af in AF.items():
            for (src_len, table), found in self._dumper.rules(af):
                suppress = dump.u32(found.get(FRA_SUPPRESS_PREFIXLEN))
                rules.append(Rule(
                    priority=dump.u32(found.get(FRA_PRIORITY)) or 0,
                    table=dump.u32(found.get(FRA_TABLE)) or table,
                    from_addr=dump.ip(af, found.get(FRA_SRC)), from_len=src_len,
                    suppress_prefixlength=None if suppress in (None, 0xFFFFFFFF) else suppress,
                    family=family))
        return rules

    def entries(self) -> List[Entry]:
        """Every address and route of both families, in every table, as guard entries."""
        found = [address_entry(*dumped) for af in AF.values()
                 for dumped in self._dumper.addresses(af)]
        for af in AF.values():
            found += [e for e in (route_entry(*dumped)
                                  for dumped in self._dumper.routes(af)) if e is not None]
        return found

    def apply(self, changes: Sequence[Change]) -> Tuple[int, Optional[ApplyError]]:
        """Make ``changes`` in order, as one batch: how many were made (removing what is
        gone and adding what is there are not), and the ``ApplyError`` of the first that
        failed (naming its ``what``, default its arguments, and the kernel's reason), if
        one did: the ones after it were still tried.  ``BackendError`` when the socket
        fails."""
        try:
            codes, self._seq = batch.send(self._dumper.sock, [
                (kind, command, args) for kind, command, args, _ in changes], self._seq)
        except OSError as err:
            self._seq += len(changes) + 1  # no later batch takes this one's numbers
            raise BackendError(f"netlink changes failed ({err})") from None
        made, error = 0, None
        for (kind, command, args, what), code in zip(changes, codes):
            if not code:
                made += 1
            elif not ((command == "del" and code in _GONE)
                      or (command == "add" and code == errno.EEXIST)) and error is None:
                error = ApplyError(f"netlink {kind} {command} {what or describe(args)} "
                                   f"failed: {os.strerror(code)}")
        return made, error

    def add(self, entry: Entry) -> bool:
        """Add ``entry`` again; False when it is there already."""
        return self.change("addr" if entry.kind == ADDR else "route", "add", what=entry.text,
                           **dict(entry.args))

    def change(self, kind: str, command: str, what: Optional[str] = None,
               **args: Any) -> bool:
        """``ip KIND COMMAND`` with pyroute2's ``args``; False when there was nothing to do
        (removing what is gone, adding what is there).  ``ApplyError`` names ``what``
        (default: the arguments) and the kernel's reason."""
        from pyroute2 import NetlinkError

        try:
            getattr(self._ipr, kind)(command, **args)
            return True
        except NetlinkError as err:
            if (command == "del" and err.code in _GONE) or (
                    command == "add" and err.code == errno.EEXIST):
                return False
            raise ApplyError(f"netlink {kind} {command} {what or describe(args)} failed: "
                             f"{os.strerror(err.code)}") from None


def _link(header: Tuple[int, int, int], found: dump.Attrs) -> Link:
    kind, index, flags = header
    info = dump.attrs(found[IFLA_LINKINFO], 0) if IFLA_LINKINFO in found else {}
    link_kind = dump.text(info.get(IFLA_INFO_KIND))
    return Link(
        index=index, ifname=dump.text(found.get(IFLA_IFNAME)) or "",
        mac=normalize_mac(dump.hwaddr(found.get(IFLA_PERM_ADDRESS))
                          or dump.hwaddr(found.get(IFLA_ADDRESS)) or ""),
        ethernet=(kind == ARPHRD_ETHER and link_kind in ETHERNET_KINDS
                  and not dump.u32(found.get(IFLA_MASTER))),
        up=bool(flags & IFF_UP), mtu=dump.u32(found.get(IFLA_MTU)))


def address_entry(header: Tuple[int, ...], found: dump.Attrs) -> Entry:
    """An address message of ``dump.py`` (header, attributes) as a guard entry."""
    af, prefix, flags, _, index = header
    family = 6 if af == AF[6] else 4
    local = dump.ip(af, found.get(IFA_LOCAL) or found.get(IFA_ADDRESS))
    cache = found.get(IFA_CACHEINFO)  # struct ifa_cacheinfo: preferred, valid, ...
    flags = dump.u32(found.get(IFA_FLAGS)) or flags
    args: Dict[str, Any] = {"index": index, "address": local, "prefixlen": prefix,
                            "flags": flags & _IFA_SETTABLE}
    label = dump.text(found.get(IFA_LABEL))
    if label:
        args["label"] = label
    if found.get(IFA_BROADCAST):
        args["broadcast"] = dump.ip(af, found[IFA_BROADCAST])
    return Entry(ADDR, index, family, (local, prefix), tuple(args.items()),
                 permanent=cache is None or dump.u32(cache[4:8]) == FOREVER,
                 link_local=family == 6 and local.lower().startswith("fe80:"))


def route_entry(header: Tuple[int, ...], found: dump.Attrs) -> Optional[Entry]:
    """A route message of ``dump.py`` (header, attributes) through one device as a
    guard entry; None for others (multipath, blackhole)."""
    oif = dump.u32(found.get(RTA_OIF))
    if oif is None:
        return None
    af, dst_len, _, _, table, proto, scope, kind, flags = header
    family = 6 if af == AF[6] else 4
    dest = dump.ip(af, found.get(RTA_DST)) or ANY[family]
    table = dump.u32(found.get(RTA_TABLE)) or table
    metric = dump.u32(found.get(RTA_PRIORITY))
    gateway = dump.ip(af, found.get(RTA_GATEWAY))
    args: Dict[str, Any] = {"family": af, "dst": f"{dest}/{dst_len}", "oif": oif,
                            "table": table, "proto": proto, "scope": scope, "type": kind}
    for key, value in (("priority", metric), ("gateway", gateway),
                       ("prefsrc", dump.ip(af, found.get(RTA_PREFSRC)))):
        if value is not None:
            args[key] = value
    if flags & _RTNH_F_ONLINK:
        args["flags"] = _RTNH_F_ONLINK
    return Entry(ROUTE, oif, family, (table, dest, dst_len, metric), tuple(args.items()),
                 proto=proto, gateway=gateway,
                 link_local=family == 6 and dest.lower().startswith("fe80:"))


def _event_entry(kind: int, payload: bytes) -> Optional[Entry]:
    """A notification as a guard entry (None: neither an address nor a route through
    one device)."""
    if kind in (dump.RTM_NEWADDR, dump.RTM_DELADDR):
        return address_entry(*dump.address(payload))
    if kind in (dump.RTM_NEWROUTE, dump.RTM_DELROUTE):
        return route_entry(*dump.route(payload))
    return None


Handler = Callable[[str, Entry, int, float, "Kernel"], None]


class Events:
    """The kernel's address and route changes, in a thread of its own (in ``netns``):
    ``handler(event, entry, portid, when, kernel)`` for each, with a socket of that
    thread's to change the kernel.  Ready to report once made."""

    def __init__(self, netns: Optional[str], handler: Handler) -> None:
        self._handler = handler
        self._netns = netns
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self.stopped = False
        threading.Thread(target=self._run, name="kernel-events", daemon=True).start()
        self._ready.wait(10)
        if self._error is not None or not self._ready.is_set():
            raise BackendError(f"cannot follow the kernel's changes ({self._error})")

    def _run(self) -> None:
        try:
            with entered(self._netns):
                listener = dump.Listener(_GROUPS)
                kernel = Kernel(self._netns)
        except (OSError, BackendError) as err:
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        while not self.stopped:  # a daemon thread: it ends with the run
            try:
                for kind, port, payload in listener.messages():
                    entry = _event_entry(kind, payload)
                    if entry is not None:
                        self._handler(dump.EVENTS[kind], entry, port, time.monotonic(), kernel)
            except OSError as err:
                if err.errno != errno.ENOBUFS:
                    raise
                LOG.warning("missed some of the kernel's address and route changes "
                            "(netlink buffer overran): what they removed is not put back")

    def stop(self) -> None:
        self.stopped = True
