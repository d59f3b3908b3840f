"""Kernel state of a sandbox, normalised for comparison, and upstream's expected layout:
the tests' own oracle, written apart from the planner."""

from __future__ import annotations

import ipaddress
from typing import Dict, List, Set, Tuple

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
    """(table, dst, gateway, dev, metric) of the routes in tables 30000-30999."""
    result = set()
    for route in sandbox.routes() if family == 4 else sandbox.routes6():
        table = str(route.get("table", "main"))
        if table.isdigit() and 30000 <= int(table) < 31000:
            result.add((table, route["dst"], route.get("gateway", ""), route["dev"],
                        route.get("metric", 0)))
    return result


def kernel_state(sandbox):
    return (sandbox.addresses("eth1"), sandbox.addresses("eth2"), policy_rules(sandbox),
            policy_routes(sandbox))


def ifnames(sandbox) -> Dict[str, str]:
    """MAC (upper case) -> ifname of the sandbox's NICs, as ``expected_layout`` takes them."""
    return {nic.mac.upper(): nic.ifname for nic in sandbox.nics}


def expected_layout(interfaces: List[dict], ifnames: Dict[str, str]) -> Tuple[Set, Set]:
    """Upstream's rules and routes for ``interfaces`` (scenario entries), MAC -> ifname."""
    rules: Set[Rule] = set()
    routes: Set[Route] = set()
    for iface in interfaces:
        if not iface["addresses"]:  # an IPv6-only NIC
            continue
        idx = iface["device_number"]
        net = ipaddress.ip_network(iface["subnet"])
        dev = ifnames[iface["mac"].upper()]
        for address in iface["addresses"]:
            rules.add((30200 + idx, address, str(30200 + idx)))
            rules.add((30400 + idx, address, str(30400 + idx)))
        rules.add((30350, "all", "main suppress_prefixlength 0"))
        routes.add((str(30200 + idx), str(net), "", dev, 10))
        routes.add((str(30400 + idx), "default", str(net.network_address + 1), dev, 10))
    return rules, routes


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


def expected_layout6(interfaces: List[dict], ifnames: Dict[str, str]) -> Tuple[Set, Set]:
    """The IPv6 rules and routes for ``interfaces`` (scenario entries with ``ipv6s``)."""
    rules: Set[Rule] = set()
    routes: Set[Route] = set()
    for iface in interfaces:
        if not iface.get("ipv6s"):
            continue
        idx = iface["device_number"]
        net = ipaddress.ip_network(iface["ipv6_subnet"])
        dev = ifnames[iface["mac"].upper()]
        gateway = iface.get("ipv6_gateway") or str(net.network_address + 1)
        for address in iface["ipv6s"]:
            rules.add((30200 + idx, address, str(30200 + idx)))
            rules.add((30400 + idx, address, str(30400 + idx)))
        rules.add((30350, "all", "main suppress_prefixlength 0"))
        routes.add((str(30200 + idx), str(net), "", dev, 10))
        routes.add((str(30400 + idx), "default", gateway, dev, 10))
    return rules, routes


def assert_layout(sandbox, interfaces):
    """The kernel holds upstream's layout for ``interfaces``, both families."""
    rules, routes = expected_layout(interfaces, ifnames(sandbox))
    assert policy_rules(sandbox) == rules and policy_routes(sandbox) == routes
    rules6, routes6 = expected_layout6(interfaces, ifnames(sandbox))
    assert policy_rules(sandbox, 6) == rules6 and policy_routes(sandbox, 6) == routes6
