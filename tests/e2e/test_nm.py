"""End to end: emulator -> nm-cloud-setup -> a real NetworkManager in a namespace.

Assertions are on outcomes: the kernel's addresses, rules and routes, the
applied connections NetworkManager reports, the profiles on disk, exit codes
and log lines.
"""

from __future__ import annotations

import pytest

from harness.kernel_view import kernel_state, policy_routes, policy_rules
from harness.nm_applied import applied, entry
from harness.nm_read import profiles_on_disk
from nm_cloud_setup.emulator import scenario as scenarios
from tests.support.layout import expected_layout
from tests.support.nm_daemons import BOTH_DAEMONS
from tests.support.scenarios import set_scenario
from tests.support.vm import run_tool

pytestmark = [pytest.mark.root, BOTH_DAEMONS]


def test_two_nics_three_ips_get_upstream_layout(nm_sandbox, emulator):
    disk_before = profiles_on_disk(nm_sandbox)
    result = run_tool(nm_sandbox, emulator.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<info>  some changes were applied for provider ec2" in result.stdout

    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                            "172.31.16.12/20"]
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                            "172.31.32.12/20"]
    rules, routes = expected_layout(emulator.state.scenario["interfaces"],
                                    {nic.mac.upper(): nic.ifname for nic in nm_sandbox.nics})
    assert policy_rules(nm_sandbox) == rules
    assert policy_routes(nm_sandbox) == routes
    # The applied connections hold them; the profiles on disk do not change.
    state = applied(nm_sandbox)
    assert state["eth1"].ipv4.addresses == tuple(nm_sandbox.addresses("eth1"))
    assert set(state["eth2"].ipv4.rules) == {
        entry(family=("i", 2), priority=("u", priority), from_=("s", address),
              from_len=("y", 32), table=("u", table))
        for priority, table in ((30201, 30201), (30401, 30401))
        for address in ("172.31.32.10", "172.31.32.11", "172.31.32.12")} | {
        entry(family=("i", 2), priority=("u", 30350), table=("u", 254),
              suppress_prefixlength=("i", 0))}
    assert profiles_on_disk(nm_sandbox) == disk_before


def test_second_run_changes_nothing_and_calls_no_reapply(nm_sandbox, emulator):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    before = (kernel_state(nm_sandbox), applied(nm_sandbox))

    result = run_tool(nm_sandbox, emulator.url)

    assert result.returncode == 0, result.stderr
    assert (kernel_state(nm_sandbox), applied(nm_sandbox)) == before  # same version ids
    assert "reapply connection" not in result.stdout
    assert result.stdout.count("device needs no update to applied connection") == 2
    assert "no changes were applied for provider ec2" in result.stdout


def test_removed_address_disappears_with_its_rules(nm_sandbox, emulator):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    scenario = scenarios.generate(2, 3)
    scenario["interfaces"][1]["addresses"].remove("172.31.32.11")
    set_scenario(emulator, scenario)

    assert run_tool(nm_sandbox, emulator.url).returncode == 0

    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.12/20"]
    assert not any(src == "172.31.32.11" for _, src, _ in policy_rules(nm_sandbox))
    rules, routes = expected_layout(scenario["interfaces"],
                                    {nic.mac.upper(): nic.ifname for nic in nm_sandbox.nics})
    assert policy_rules(nm_sandbox) == rules
    assert policy_routes(nm_sandbox) == routes


def test_profile_with_skip_flag_is_left_alone(nm_sandbox_session, emulator):
    sandbox = nm_sandbox_session
    sandbox.reset_profiles(skip=["eth2"])
    before = applied(sandbox)["eth2"]

    result = run_tool(sandbox, emulator.url)

    assert result.returncode == 0, result.stderr
    assert ("config device 02:00:00:00:00:02: skip applied connection due to user data "
            "org.freedesktop.nm-cloud-setup.skip") in result.stdout
    assert applied(sandbox)["eth2"] == before
    assert sandbox.addresses("eth2") == ["172.31.32.10/20"]
    assert sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20", "172.31.16.12/20"]


def test_single_nic_single_ip_changes_nothing(nm_sandbox, emulator):
    scenario = scenarios.generate(1, 1)
    set_scenario(emulator, scenario)
    before = (kernel_state(nm_sandbox), applied(nm_sandbox))

    result = run_tool(nm_sandbox, emulator.url)

    assert result.returncode == 0, result.stderr
    assert ("device needs no update to applied connection \"eth1\"" in result.stdout
            and "because there are not multiple IP addresses. Skip" in result.stdout)
    assert (kernel_state(nm_sandbox), applied(nm_sandbox)) == before


def test_static_profile_holding_the_primary_is_not_reapplied_twice(nm_sandbox_session, emulator):
    """Upstream adds the primary a second time and reapplies on every run; not here."""
    sandbox = nm_sandbox_session
    sandbox.reset_profiles(method="manual")
    assert run_tool(sandbox, emulator.url).returncode == 0
    assert sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20", "172.31.16.12/20"]
    before = applied(sandbox)

    result = run_tool(sandbox, emulator.url)

    assert "reapply connection" not in result.stdout
    assert applied(sandbox) == before


@pytest.mark.parametrize("tokens", ["required", "unsupported"])
def test_token_modes(nm_sandbox, emulator, tokens):
    scenario = scenarios.generate(2, 3, tokens=tokens)
    set_scenario(emulator, scenario)

    result = run_tool(nm_sandbox, emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                            "172.31.32.12/20"]
    paths = emulator.state.paths
    if tokens == "unsupported":
        assert "/latest/api/token" in paths  # tried once, then plain GETs
    else:
        assert paths.get("/latest/api/token") == 1
    token_seen = [p for p in paths if "token" in p]
    assert token_seen == ["/latest/api/token"]
    assert "X-aws-ec2-metadata-token:" not in result.stdout


def test_failed_fetch_keeps_configuration_and_exits_non_zero(nm_sandbox, emulator):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    before = kernel_state(nm_sandbox)
    with emulator.state.lock:
        emulator.state.rules = [{"match": "02:00:00:00:00:02/local-ipv4s", "status": 500}]

    result = run_tool(nm_sandbox, emulator.url)

    assert result.returncode == 1
    assert "02:00:00:00:00:02" in result.stderr and "HTTP 500" in result.stderr
    assert kernel_state(nm_sandbox) == before
