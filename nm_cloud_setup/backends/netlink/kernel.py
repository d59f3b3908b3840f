"""The kernel, read and changed over netlink: the only pyroute2 user.

``Kernel`` holds one netlink socket and speaks the model's values: links, and
the addresses, routes and rules of both families, read as ``Address``, ``Route``
and ``Rule``; a change is pyroute2's keyword arguments (``requests.py`` builds
them), and an entry already gone (a removal) or already there (an addition) is
no error.  Uses only the pyroute2 API that 0.7.2 (Debian 12) and 0.9 share.
The two sysctls the netlink backend needs are here too (``ipv6_off``,
``promote_secondaries``).
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from pyroute2 import IPRoute, NetlinkError

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


class Kernel:
    """One netlink socket; ``BackendError`` when it cannot be opened."""

    def __init__(self) -> None:
        try:
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
        return bool(self._ipr.link_lookup(ifname=ifname))

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


def ipv6_off(ifname: str) -> str:
    """Why the link takes no IPv6 change (IPv6 disabled on it, or in the kernel), or ""."""
    try:
        disabled = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").read_text().strip()
    except OSError:
        return "the kernel has no IPv6"
    return f"net.ipv6.conf.{ifname}.disable_ipv6 is 1" if disabled == "1" else ""


def promote_secondaries(ifname: str) -> None:
    """Let the kernel keep a subnet's other IPv4 addresses when its first one is removed.

    Otherwise removing the address the kernel counts as the subnet's primary removes
    every secondary of that subnet with it, wanted or not.  systemd turns this on for
    all interfaces by default; a namespace or a minimal image may not.
    """
    path = Path("/proc/sys/net/ipv4/conf") / ifname / "promote_secondaries"
    try:
        if path.read_text().strip() == "0":
            path.write_text("1")
            LOG.debug("netlink %s: promote_secondaries turned on", ifname)
    except OSError as err:
        LOG.warning("netlink %s: cannot turn on promote_secondaries (%s): removing an "
                    "address may take others of its subnet with it", ifname, err.strerror)
