"""A sandbox's policy routing as tests and the soak compare it: the rules and tables in
nm-cloud-setup's range and the ``type local`` routes, normalised into sets."""

from __future__ import annotations

from typing import Set, Tuple

from harness.sandbox import Sandbox

Rule = Tuple[int, str, str]
Route = Tuple[str, str, str, str, int]


def policy_rules(sandbox: Sandbox, family: int = 4) -> Set[Rule]:
    """(priority, from, table) of the rules in nm-cloud-setup's range 30000-30999."""
    result = set()
    for rule in sandbox.rules() if family == 4 else sandbox.rules6():
        if 30000 <= rule.get("priority", 0) < 31000:
            src = rule.get("src", "all")
            if rule.get("srclen") not in (None, 32 if family == 4 else 128):
                src += f"/{rule['srclen']}"
            table = rule.get("table", "")
            if "suppress_prefixlen" in rule:
                table += f" suppress_prefixlength {rule['suppress_prefixlen']}"
            result.add((rule["priority"], src, table))
    return result


def policy_routes(sandbox: Sandbox, family: int = 4) -> Set[Route]:
    """(table, dst, gateway, dev, metric) of the routes in tables 30000-43999 (the
    network-card tables from 31000 included)."""
    result = set()
    for route in sandbox.routes() if family == 4 else sandbox.routes6():
        table = str(route.get("table", "main"))
        if table.isdigit() and 30000 <= int(table) < 44000:
            result.add((table, route["dst"], route.get("gateway", ""), route["dev"],
                        route.get("metric", 0)))
    return result


def kernel_state(sandbox):
    return (sandbox.addresses("eth1"), sandbox.addresses("eth2"), policy_rules(sandbox),
            policy_routes(sandbox))


def local_routes(sandbox: Sandbox, family: int = 4,
                 protocol: str = "static") -> Set[Tuple[str, str]]:
    """(dst, dev) of the ``type local`` routes NetworkManager added (proto static), or
    the netlink backend (proto 213)."""
    result = set()
    for route in sandbox.routes() if family == 4 else sandbox.routes6():
        if route.get("type") == "local" and route.get("protocol") == protocol:
            host = "/32" if family == 4 else "/128"
            dst = route["dst"] if "/" in route["dst"] else route["dst"] + host
            result.add((dst, route["dev"]))
    return result
