"""EC2's delegated prefixes (``ipv4-prefix``, ``ipv6-prefix``): source rules to the NIC's
tables, as amazon-ec2-net-utils v2 adds them, and optionally an address from each; both
families, both backends."""

from __future__ import annotations

import pytest

from harness.kernel_view import local_routes, policy_rules
from nm_cloud_setup.emulator import scenario as scenarios
from tests.support.scenarios import set_scenario

pytestmark = pytest.mark.root

V4, V6 = "172.31.33.0/28", "2600:1f18:aaaa:bb02:5::/80"


def with_prefixes():
    scenario = scenarios.generate(2, 2, ipv6s=2)
    scenario["interfaces"][1].update(ipv4_prefixes=[V4], ipv6_prefixes=[V6])
    return scenario


def test_prefix_rules_and_addresses(on_each_backend):
    backend, sandbox, emulator, run = on_each_backend
    if backend == "nm":  # IPv6 active in the profiles, its primaries as DHCPv6 gives them
        sandbox.reset_profiles(ipv6="manual")
    set_scenario(emulator, with_prefixes())
    both = {"NM_CLOUD_SETUP_EC2_PREFIXES": "rules", "NM_CLOUD_SETUP_EC2_PREFIX_ADDRESSES": "yes"}
    result = run(**both)
    assert result.returncode == 0, result.stdout + result.stderr
    for family, prefix in ((4, V4), (6, V6)):
        rules = policy_rules(sandbox, family)
        assert {rule for rule in rules if rule[1] == prefix} == {
            (30201, prefix, "30201"), (30401, prefix, "30401")}
    proto = "static" if backend == "nm" else "213"
    assert local_routes(sandbox, 4, proto) == set() == local_routes(sandbox, 6, proto)
    assert "172.31.33.0/32" in sandbox.addresses("eth2")
    assert "2600:1f18:aaaa:bb02:5::/128" in sandbox.addresses6("eth2")
    check = run("status", "--check", **both)
    assert check.returncode == 0, check.stdout + check.stderr

    # Without the addresses option the rules stay and the addresses go.
    again = run(NM_CLOUD_SETUP_EC2_PREFIXES="rules")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "172.31.33.0/32" not in sandbox.addresses("eth2")
    assert "2600:1f18:aaaa:bb02:5::/128" not in sandbox.addresses6("eth2")
    assert (30201, V4, "30201") in policy_rules(sandbox)

    # "yes" (or "local"): the rules and, as before, a local route for the whole prefix.
    assert run(NM_CLOUD_SETUP_EC2_PREFIXES="yes").returncode == 0
    assert (30401, V6, "30401") in policy_rules(sandbox, 6)
    assert local_routes(sandbox, 4, proto) == {(V4, "eth2")}
    assert local_routes(sandbox, 6, proto) == {(V6, "eth2")}

    # Off (the default): neither.
    assert run().returncode == 0
    assert not any(src in (V4, V6) for family in (4, 6)
                   for _, src, _ in policy_rules(sandbox, family))
