"""Upstream's routing layout as the tests expect it: the tests' own oracle, written apart
from the planner (``nm_cloud_setup/planning``), compared with ``harness.kernel_view``."""

from __future__ import annotations

import ipaddress
from typing import Dict, List, Set, Tuple

from harness.kernel_view import Route, Rule, policy_routes, policy_rules


def ifnames(sandbox) -> Dict[str, str]:
    """MAC (upper case) -> ifname of the sandbox's NICs, as ``expected_layout`` takes them."""
    return {nic.mac.upper(): nic.ifname for nic in sandbox.nics}


def expected_layout(interfaces: List[dict], ifnames: Dict[str, str],
                    prefixes: bool = False) -> Tuple[Set, Set]:
    """Upstream's rules and routes for ``interfaces`` (scenario entries), MAC -> ifname;
    ``prefixes``: EC2's delegated prefixes get source rules too."""
    rules: Set[Rule] = set()
    routes: Set[Route] = set()
    for iface in interfaces:
        if not iface["addresses"]:  # an IPv6-only NIC
            continue
        idx = iface["device_number"]
        net = ipaddress.ip_network(iface["subnet"])
        dev = ifnames[iface["mac"].upper()]
        for address in iface["addresses"] + (iface.get("ipv4_prefixes", []) if prefixes else []):
            rules.add((30200 + idx, address, str(30200 + idx)))
            rules.add((30400 + idx, address, str(30400 + idx)))
        rules.add((30350, "all", "main suppress_prefixlength 0"))
        routes.add((str(30200 + idx), str(net), "", dev, 10))
        routes.add((str(30400 + idx), "default", str(net.network_address + 1), dev, 10))
    return rules, routes


def expected_layout6(interfaces: List[dict], ifnames: Dict[str, str],
                     prefixes: bool = False) -> Tuple[Set, Set]:
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
        for address in iface["ipv6s"] + (iface.get("ipv6_prefixes", []) if prefixes else []):
            rules.add((30200 + idx, address, str(30200 + idx)))
            rules.add((30400 + idx, address, str(30400 + idx)))
        rules.add((30350, "all", "main suppress_prefixlength 0"))
        routes.add((str(30200 + idx), str(net), "", dev, 10))
        routes.add((str(30400 + idx), "default", gateway, dev, 10))
    return rules, routes


def assert_layout(sandbox, interfaces, prefixes: bool = False):
    """The kernel holds upstream's layout for ``interfaces``, both families."""
    rules, routes = expected_layout(interfaces, ifnames(sandbox), prefixes)
    assert policy_rules(sandbox) == rules and policy_routes(sandbox) == routes
    rules6, routes6 = expected_layout6(interfaces, ifnames(sandbox), prefixes)
    assert policy_rules(sandbox, 6) == rules6 and policy_routes(sandbox, 6) == routes6
