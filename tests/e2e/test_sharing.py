"""Sharing the machine, on both backends: a NIC another program owns is left alone
(``NM_CLOUD_SETUP_EXCLUDE``: read for nothing, changed in nothing), and the routing
layout goes where the administrator says: other tables and priorities, no policy
routing at all (addresses only), or no addresses (rules only); a layout whose ranges
overlap is refused before anything is touched."""

from __future__ import annotations

import json
from typing import Callable, List, NamedTuple, Tuple

import pytest

from harness.nm_applied import applied
from harness.sandbox import Sandbox, run
from tests.support.layout import expected_layout, ifnames
from tests.support.vm import run_in_vm, run_tool

pytestmark = pytest.mark.root

ETH2_MAC = "02:00:00:00:00:02"


class World(NamedTuple):
    backend: str
    sandbox: Sandbox
    emulator: object
    run: Callable


@pytest.fixture(params=["nm", "netlink"])
def world(request) -> World:
    if request.param == "nm":
        sandbox, emulator = request.getfixturevalue("nm_sandbox"), \
            request.getfixturevalue("emulator")
        return World("nm", sandbox, emulator,
                     lambda extra, args=(): run_tool(sandbox, emulator.url, extra, args=args))
    sandbox, emulator = request.getfixturevalue("kernel_sandbox"), \
        request.getfixturevalue("vm_emulator")
    return World("netlink", sandbox, emulator,
                 lambda extra, args=(): run_in_vm(sandbox, emulator.url, extra, args=args))


def ip(sandbox: Sandbox, *args: str) -> str:
    return run("ip", "-n", sandbox.host_ns, *args).stdout


def rules(sandbox: Sandbox) -> List[Tuple[int, str, str]]:
    """(priority, from, table) of every IPv4 rule but the kernel's own three, as
    ``harness.kernel_view`` writes them."""
    return sorted((r["priority"], r.get("src", "all"), str(r.get("table"))
                   + (f" suppress_prefixlength {r['suppress_prefixlen']}"
                      if "suppress_prefixlen" in r else ""))
                  for r in sandbox.rules() if r["priority"] not in (0, 32766, 32767))


def occupy_eth2(sandbox: Sandbox) -> None:
    """What the AWS VPC CNI does with a secondary ENI it owns: a pod's address routed
    through it, rules at its own priorities (512, 1536), a table of its own (2)."""
    for args in (["addr", "add", "172.31.32.200/32", "dev", "eth2"],
                 ["rule", "add", "priority", "512", "to", "10.99.0.5", "lookup", "main"],
                 ["rule", "add", "priority", "1536", "from", "10.99.0.5", "lookup", "2"],
                 ["route", "add", "default", "via", "172.31.32.1", "dev", "eth2", "table", "2"]):
        ip(sandbox, *args)


def free_eth2(sandbox: Sandbox) -> None:
    for priority in ("512", "1536"):
        run("ip", "-n", sandbox.host_ns, "rule", "del", "priority", priority, check=False)
    run("ip", "-n", sandbox.host_ns, "route", "flush", "table", "2", check=False)


def eth2(sandbox: Sandbox) -> tuple:
    return (sandbox.addresses("eth2"), sandbox.addresses6("eth2"),
            ip(sandbox, "route", "show", "table", "all", "dev", "eth2"),
            [r for r in rules(sandbox) if r[0] in (512, 1536)])


@pytest.mark.parametrize("selector", ["eth2", ETH2_MAC, "index:1", "id:eni-020000000002"])
def test_an_excluded_nic_is_read_for_nothing_and_changed_in_nothing(world, selector):
    sandbox = world.sandbox
    occupy_eth2(sandbox)
    before = eth2(sandbox)
    version = applied(sandbox)["eth2"].version_id if world.backend == "nm" else None
    try:
        result = world.run({"NM_CLOUD_SETUP_EXCLUDE": selector})
        assert result.returncode == 0, result.stdout + result.stderr
        assert "config device 02:00:00:00:00:02: left alone: NM_CLOUD_SETUP_EXCLUDE" \
            in result.stdout
        assert eth2(sandbox) == before
        if version is not None:
            assert applied(sandbox)["eth2"].version_id == version  # never reapplied
        eth1_rules, eth1_routes = expected_layout(
            world.emulator.state.scenario["interfaces"][:1], ifnames(sandbox))
        assert {(p, s, t) for p, s, t in rules(sandbox) if 30000 <= p < 31000} == eth1_rules
        assert sandbox.addresses("eth1")[1:] == ["172.31.16.11/20", "172.31.16.12/20"]
        if selector in ("eth2", ETH2_MAC):  # known before the metadata: none asked for
            assert not [p for p in world.emulator.state.paths if ETH2_MAC.lower() in p]
        status = world.run({"NM_CLOUD_SETUP_EXCLUDE": selector}, args=("status", "--json"))
        report = {d["interface"]: d for d in json.loads(status.stdout)["devices"]}
        assert report["eth2"]["skipped"].startswith("left alone: NM_CLOUD_SETUP_EXCLUDE")
        assert eth2(sandbox) == before
    finally:
        free_eth2(sandbox)


MOVED = {"NM_CLOUD_SETUP_TABLE_SUBNET": "1200", "NM_CLOUD_SETUP_TABLE_DEFAULT": "1400",
         "NM_CLOUD_SETUP_PRIORITY_SUBNET": "1000", "NM_CLOUD_SETUP_PRIORITY_DEFAULT": "1100",
         "NM_CLOUD_SETUP_PRIORITY_SUPPRESS": "900"}


def test_the_layout_goes_where_the_administrator_says(world):
    sandbox = world.sandbox
    result = world.run(MOVED)
    assert result.returncode == 0, result.stdout + result.stderr
    found = rules(sandbox)
    assert (900, "all", "main suppress_prefixlength 0") in found
    assert {(1000, "172.31.16.11", "1200"), (1100, "172.31.16.11", "1400"),
            (1001, "172.31.32.12", "1201"), (1101, "172.31.32.12", "1401")} <= set(found)
    assert not [r for r in found if 30000 <= r[0] < 31000]
    assert "default via 172.31.16.1" in ip(sandbox, "route", "show", "table", "1400")
    assert "172.31.32.0/20" in ip(sandbox, "route", "show", "table", "1201")
    again = world.run(MOVED)
    assert again.returncode == 0 and "some changes were applied" not in again.stdout


@pytest.mark.parametrize("env, addresses, routed", [
    ({"NM_CLOUD_SETUP_RULES": "none"}, True, False),  # the administrator routes
    ({"NM_CLOUD_SETUP_ADDRESSES": "no"}, False, True),  # another program adds them
])
def test_addresses_only_and_rules_only(world, env, addresses, routed):
    sandbox = world.sandbox
    result = world.run(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (sandbox.addresses("eth1")[1:] == ["172.31.16.11/20", "172.31.16.12/20"]) \
        is addresses
    ours = [r for r in rules(sandbox) if 30000 <= r[0] < 31000]
    assert bool(ours) is routed
    assert ("default via 172.31.16.1" in ip(sandbox, "route", "show", "table", "30400")) \
        is routed


def test_a_layout_that_overlaps_is_refused_and_nothing_changes(world):
    sandbox = world.sandbox
    before = (sandbox.addresses("eth1"), rules(sandbox))
    result = world.run({"NM_CLOUD_SETUP_TABLE_DEFAULT": "30250"})
    assert result.returncode == 2
    assert "the subnet tables (30200-30299) and the default-route tables (30250-30349) " \
           "overlap" in result.stderr
    assert "nothing was changed" in result.stderr
    assert (sandbox.addresses("eth1"), rules(sandbox)) == before
    assert world.emulator.state.requests == 0
