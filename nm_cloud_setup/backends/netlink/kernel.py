"""The kernel, read and changed over netlink: the only pyroute2 user.

``Kernel`` holds one netlink socket and speaks the model's values: links, and
the addresses, routes and rules of both families, read as ``Address``, ``Route``
and ``Rule``; a change is pyroute2's keyword arguments (``requests.py`` builds
them), and an entry already gone (a removal) or already there (an addition) is
no error.  ``Events`` follows the kernel's address and route changes in a thread
of its own, for the NetworkManager backend's guard (``for_nm.py``).  Either can
work in another network namespace (NetworkManager's, given as
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
from typing import Any, Callable, Dict, Iterator, List, Optional

from pyroute2 import IPRoute, NetlinkError

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
    """One netlink socket (in ``netns``, if given); ``BackendError`` when it cannot be
    opened."""

    def __init__(self, netns: Optional[str] = None) -> None:
        try:
            with entered(netns):
                self._ipr = IPRoute()
        except (OSError, NetlinkError) as err:
            raise BackendError(f"cannot open a netlink socket ({err})") from None

    def close(self) -> None:
        self._ipr.close()

    def links(self) -> List[Link]:
        return [_link(msg) for msg in self._ipr.get_links()]

    def link(self, index: int) -> Optional[Link]:
        """The link ``index``; None when it is gone (unplugged since it was listed)."""
        try:
            found = self._ipr.get_links(index)
        except NetlinkError:
            return None
        return _link(found[0]) if found else None

    def exists(self, ifname: str) -> bool:
        return self.index(ifname) is not None

    def index(self, ifname: str) -> Optional[int]:
        found = self._ipr.link_lookup(ifname=ifname)
        return found[0] if found else None

    def addresses(self) -> Dict[int, List[Address]]:
        """Every address of both families, by link index: one dump per family (pyroute2
        filters by index client-side)."""
        by_index: Dict[int, List[Address]] = {}
        for af in AF.values():
            for msg in self._ipr.get_addr(family=af):
                by_index.setdefault(msg["index"], []).append(Address(
                    msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"), msg["prefixlen"]))
        return by_index

    def routes(self, proto: int) -> Dict[int, List[Route]]:
        """The routes of protocol ``proto``, both families, every table, by outgoing link."""
        by_oif: Dict[int, List[Route]] = {}
        for family, af in AF.items():
            for msg in self._ipr.get_routes(family=af, proto=proto):
                if msg["proto"] != proto:
                    continue
                by_oif.setdefault(msg.get_attr("RTA_OIF"), []).append(Route(
                    dest=msg.get_attr("RTA_DST") or ANY[family], prefix=msg["dst_len"],
                    next_hop=msg.get_attr("RTA_GATEWAY"), metric=msg.get_attr("RTA_PRIORITY"),
                    table=msg.get_attr("RTA_TABLE") or msg["table"],
                    type="local" if msg["type"] == RTN_LOCAL else None))
        return by_oif

    def rules(self) -> List[Rule]:
        """Every rule of both families."""
        rules = []
        for family, af in AF.items():
            for msg in self._ipr.get_rules(family=af):
                suppress = msg.get_attr("FRA_SUPPRESS_PREFIXLEN")
                rules.append(Rule(
                    priority=msg.get_attr("FRA_PRIORITY") or 0,
                    table=msg.get_attr("FRA_TABLE") or msg["table"],
                    from_addr=msg.get_attr("FRA_SRC"), from_len=msg["src_len"],
                    suppress_prefixlength=None if suppress in (None, 0xFFFFFFFF) else suppress,
                    family=family))
        return rules

    def entries(self) -> List[Entry]:
        """Every address and route of both families, in every table, as guard entries."""
        found = [address_entry(msg) for af in AF.values() for msg in self._ipr.get_addr(family=af)]
        for af in AF.values():
            found += [e for e in map(route_entry, self._ipr.get_routes(family=af))
                      if e is not None]
        return found

    def add(self, entry: Entry) -> bool:
        """Add ``entry`` again; False when it is there already."""
        return self.change("addr" if entry.kind == ADDR else "route", "add", what=entry.text,
                           **dict(entry.args))

    def change(self, kind: str, command: str, what: Optional[str] = None,
               **args: Any) -> bool:
        """``ip KIND COMMAND`` with pyroute2's ``args``; False when there was nothing to do
        (removing what is gone, adding what is there).  ``ApplyError`` names ``what``
        (default: the arguments) and the kernel's reason."""
        try:
            getattr(self._ipr, kind)(command, **args)
            return True
        except NetlinkError as err:
            if (command == "del" and err.code in _GONE) or (
                    command == "add" and err.code == errno.EEXIST):
                return False
            raise ApplyError(f"netlink {kind} {command} {what or describe(args)} failed: "
                             f"{os.strerror(err.code)}") from None


def _link(msg: Any) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info else None
    return Link(
        index=msg["index"], ifname=msg.get_attr("IFLA_IFNAME"),
        mac=normalize_mac(msg.get_attr("IFLA_PERM_ADDRESS") or msg.get_attr("IFLA_ADDRESS")
                          or ""),
        ethernet=(msg["ifi_type"] == ARPHRD_ETHER and kind in ETHERNET_KINDS
                  and not msg.get_attr("IFLA_MASTER")),
        up=bool(msg["flags"] & IFF_UP), mtu=msg.get_attr("IFLA_MTU"))


def address_entry(msg: Any) -> Entry:
    family = 6 if msg["family"] == AF[6] else 4
    local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    cache = msg.get_attr("IFA_CACHEINFO")
    flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
    args: Dict[str, Any] = {"index": msg["index"], "address": local,
                            "prefixlen": msg["prefixlen"], "flags": flags & _IFA_SETTABLE}
    for key, name in (("label", "IFA_LABEL"), ("broadcast", "IFA_BROADCAST")):
        if msg.get_attr(name):
            args[key] = msg.get_attr(name)
    return Entry(ADDR, msg["index"], family, (local, msg["prefixlen"]), tuple(args.items()),
                 permanent=cache is None or cache["ifa_valid"] == FOREVER,
                 link_local=family == 6 and local.lower().startswith("fe80:"))


def route_entry(msg: Any) -> Optional[Entry]:
    """A route through one device as a guard entry; None for others (multipath,
    blackhole)."""
    oif = msg.get_attr("RTA_OIF")
    if oif is None:
        return None
    family = 6 if msg["family"] == AF[6] else 4
    dest = msg.get_attr("RTA_DST") or ANY[family]
    table = msg.get_attr("RTA_TABLE") or msg["table"]
    metric = msg.get_attr("RTA_PRIORITY")
    gateway = msg.get_attr("RTA_GATEWAY")
    args: Dict[str, Any] = {"family": msg["family"], "dst": f"{dest}/{msg['dst_len']}",
                            "oif": oif, "table": table, "proto": msg["proto"],
                            "scope": msg["scope"], "type": msg["type"]}
    for key, value in (("priority", metric), ("gateway", gateway),
                       ("prefsrc", msg.get_attr("RTA_PREFSRC"))):
        if value is not None:
            args[key] = value
    if msg["flags"] & _RTNH_F_ONLINK:
        args["flags"] = _RTNH_F_ONLINK
    return Entry(ROUTE, oif, family, (table, dest, msg["dst_len"], metric), tuple(args.items()),
                 proto=msg["proto"], gateway=gateway,
                 link_local=family == 6 and dest.lower().startswith("fe80:"))


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
                listener = IPRoute()
                kernel = Kernel()
            listener.bind(groups=_GROUPS)
        except (OSError, NetlinkError) as err:
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        while not self.stopped:  # a daemon thread: it ends with the run
            for msg in listener.get():
                event = msg.get("event", "")
                entry = (address_entry(msg) if event.endswith("ADDR") else route_entry(msg))
                if entry is not None:
                    self._handler(event, entry, msg["header"]["pid"], time.monotonic(), kernel)

    def stop(self) -> None:
        self.stopped = True
