"""The guard's entries read from pyroute2's parsed messages: the oracle for
``backends/netlink/kernel.py``'s own parsing of the kernel's dumps and
notifications (``address_entry``, ``route_entry``), which must give the same."""

from __future__ import annotations

from typing import Any, Dict, Optional

from nm_cloud_setup.backends.netlink.guard import ADDR, ROUTE, Entry

AF6 = 10
ANY = {4: "0.0.0.0", 6: "::"}
FOREVER = 0xFFFFFFFF
SETTABLE = 0x02 | 0x10 | 0x100 | 0x200 | 0x400  # nodad, homeaddress, mngtmpaddr, ...
ONLINK = 0x4


def address_entry(msg: Any) -> Entry:
    family = 6 if msg["family"] == AF6 else 4
    local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    cache = msg.get_attr("IFA_CACHEINFO")
    flags = msg.get_attr("IFA_FLAGS") or msg["flags"]
    args: Dict[str, Any] = {"index": msg["index"], "address": local,
                            "prefixlen": msg["prefixlen"], "flags": flags & SETTABLE}
    for key, name in (("label", "IFA_LABEL"), ("broadcast", "IFA_BROADCAST")):
        if msg.get_attr(name):
            args[key] = msg.get_attr(name)
    return Entry(ADDR, msg["index"], family, (local, msg["prefixlen"]), tuple(args.items()),
                 permanent=cache is None or cache["ifa_valid"] == FOREVER,
                 link_local=family == 6 and local.lower().startswith("fe80:"))


def route_entry(msg: Any) -> Optional[Entry]:
    oif = msg.get_attr("RTA_OIF")
    if oif is None:
        return None
    family = 6 if msg["family"] == AF6 else 4
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
    if msg["flags"] & ONLINK:
        args["flags"] = ONLINK
    return Entry(ROUTE, oif, family, (table, dest, msg["dst_len"], metric), tuple(args.items()),
                 proto=msg["proto"], gateway=gateway,
                 link_local=family == 6 and dest.lower().startswith("fe80:"))


def entry(msg: Any) -> Optional[Entry]:
    """An address or route message (a dump's or a notification's)."""
    return address_entry(msg) if msg.get("event", "").endswith("ADDR") else route_entry(msg)
