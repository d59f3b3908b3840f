"""Pure: the netlink backend's kernel requests (pyroute2's keyword arguments) for the
plan's routes and rules, and the equivalent ``ip`` command lines for a dry run."""

from __future__ import annotations

from typing import Optional

from nm_cloud_setup.backends.netlink.ownership import PROTO
from nm_cloud_setup.model import Route, Rule

AF = {4: 2, 6: 10}  # AF_INET, AF_INET6
RTN_LOCAL = 2
SCOPE_LINK, SCOPE_HOST = 253, 254


def route_args(route: Route, index: int) -> dict:
    args = {"family": AF[route.family], "dst": f"{route.dest}/{route.prefix}", "oif": index,
            "proto": PROTO, "table": route.table or 254}
    if route.metric is not None:
        args["priority"] = route.metric
    if route.next_hop:
        args["gateway"] = route.next_hop
    if route.type == "local":
        args.update(type=RTN_LOCAL, scope=SCOPE_HOST)
    elif not route.next_hop:
        args["scope"] = SCOPE_LINK
    return args


def rule_args(rule: Rule, proto: Optional[int] = PROTO) -> dict:
    args = {"family": AF[rule.family], "priority": rule.priority, "table": rule.table}
    if proto is not None:
        args["protocol"] = proto
    if rule.from_addr:
        args.update(src=rule.from_addr, src_len=rule.from_len)
    if rule.suppress_prefixlength is not None:
        args["suppress_prefixlen"] = rule.suppress_prefixlength
    return args


def route_text(route: Route, dev: str) -> str:
    text = f"{'local ' if route.type == 'local' else ''}{route.dest}/{route.prefix}"
    if route.next_hop:
        text += f" via {route.next_hop}"
    text += f" dev {dev} table {route.table or 254}"
    if route.metric is not None:
        text += f" metric {route.metric}"
    return text + f" proto {PROTO}"


def rule_text(rule: Rule) -> str:
    return f"{rule} proto {PROTO}"  # Rule's own text is ip-rule syntax


def describe(args: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in args.items() if k not in ("family", "protocol"))
