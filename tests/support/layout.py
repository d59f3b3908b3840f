"""The layout oracle (``harness.layout``, written apart from the planner) as the
end-to-end tests use it on a sandbox."""

from __future__ import annotations

from typing import Dict

from harness.kernel_view import policy_routes, policy_rules
from harness.layout import expected_layout, expected_layout6

__all__ = ["assert_layout", "expected_layout", "expected_layout6", "ifnames"]


def ifnames(sandbox) -> Dict[str, str]:
    """MAC (upper case) -> ifname of the sandbox's NICs, as ``expected_layout`` takes them."""
    return {nic.mac.upper(): nic.ifname for nic in sandbox.nics}


def assert_layout(sandbox, interfaces, prefixes: bool = False):
    """The kernel holds upstream's layout for ``interfaces``, both families."""
    rules, routes = expected_layout(interfaces, ifnames(sandbox), prefixes)
    assert policy_rules(sandbox) == rules and policy_routes(sandbox) == routes
    rules6, routes6 = expected_layout6(interfaces, ifnames(sandbox), prefixes)
    assert policy_rules(sandbox, 6) == rules6 and policy_routes(sandbox, 6) == routes6
