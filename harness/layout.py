"""Upstream's routing layout as the tests expect it: the tests' own oracle, written apart
from the planner (``nm_cloud_setup/planning``: nothing here imports the tool), compared
with ``harness.kernel_view``.  In harness/ so that the soak (``harness.soak.checks``)
judges by it too; the end-to-end tests take it through ``tests.support.layout``."""

from __future__ import annotations

import ipaddress
from typing import Dict, List, Set, Tuple

from harness.kernel_view import Route, Rule


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
