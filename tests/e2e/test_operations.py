"""Operating it: --dry-run, status, state files and concurrent runs, against real NetworkManager."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.kernel_view import kernel_state, policy_routes, policy_rules
from harness.nm_applied import applied
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.shapes.instance import instance
from tests.support.layout import expected_layout, ifnames
from tests.support.vm import run_tool

pytestmark = pytest.mark.root


def test_dry_run_prints_the_plan_and_changes_nothing(nm_sandbox, emulator):
    before = (kernel_state(nm_sandbox), applied(nm_sandbox))

    result = run_tool(nm_sandbox, emulator.url, args=["--dry-run"])

    assert result.returncode == 0, result.stderr
    assert "provider: ec2, backend: nm (dry run: nothing is changed)" in result.stdout
    assert "eth1 (02:00:00:00:00:01): differs" in result.stdout
    assert ("nmcli device modify eth1 +ipv4.addresses '172.31.16.10/20, 172.31.16.11/20, "
            "172.31.16.12/20'") in result.stdout
    assert "priority 30350 table 254 suppress_prefixlength 0" in result.stdout
    assert (kernel_state(nm_sandbox), applied(nm_sandbox)) == before
    assert "reapplied" not in result.stdout


def test_dry_run_json_and_after_a_run_in_sync(nm_sandbox, emulator):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    result = run_tool(nm_sandbox, emulator.url, args=["--dry-run", "--json"])
    report = json.loads(result.stdout)
    assert report["dry_run"] and report["ok"] and report["provider"] == "ec2"
    assert [d["in_sync"] for d in report["devices"]] == [True, True]
    assert report["devices"][1]["applied"]["addresses"] == [
        "172.31.32.10/20", "172.31.32.11/20", "172.31.32.12/20"]
    assert report["devices"][0]["commands"] == []


def test_status_of_a_configured_instance(nm_sandbox, emulator):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    scenario = scenarios.generate(2, 3)
    scenario["interfaces"][1]["addresses"].append("172.31.32.13")
    with emulator.state.lock:
        emulator.state.scenario = scenario

    result = run_tool(nm_sandbox, emulator.url, args=["status"])

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "provider: ec2, backend: nm"
    assert lines[1] == "dmi: names no cloud (no DMI data)"
    inst = instance(scenario)  # the emulator's identity defaults for this scenario
    assert lines[2] == (f"instance: id {inst.instance_id}, type m5.large, region local-1, "
                        "zone local-1a, hostname ip-172-31-16-10")
    assert lines[3].startswith("last run: ") and "ok, changed eth1, eth2" in lines[3]
    assert "eth1 (02:00:00:00:00:01), table index 0: in sync" in lines
    assert "eth2 (02:00:00:00:00:02), table index 1: differs" in lines
    assert ("  metadata: 172.31.32.10 172.31.32.11 172.31.32.12 172.31.32.13 in 172.31.32.0/20"
            in lines)
    assert "  applied:  172.31.32.10/20 172.31.32.11/20 172.31.32.12/20" in lines
    last = json.loads((nm_sandbox.workdir / "state" / "last-run.json").read_text())
    assert last["ok"] and last["changed"] == ["eth1", "eth2"]
    metadata = json.loads((nm_sandbox.workdir / "state" / "metadata.json").read_text())
    assert metadata["interfaces"][0]["addresses"] == ["172.31.16.10", "172.31.16.11",
                                                      "172.31.16.12"]


def test_status_of_an_unconfigured_instance(nm_sandbox, tmp_path):
    env = nm_sandbox.env(NM_CLOUD_SETUP_STATE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "nm_cloud_setup", "status"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "provider: none detected (enable yours with NM_CLOUD_SETUP_<PROVIDER>=yes)",
        "last run: never (or its state in /run is gone)"]


@pytest.mark.parametrize("runs", [2, 5])
def test_concurrent_runs_finish_as_one(nm_sandbox, emulator, runs):
    """Runs started together end as one run would, judged by the results: NetworkManager
    reapplied each NIC once, with the listed addresses (the applied connections, read with
    busctl: NetworkManager numbers every Reapply from one counter, so two Reapplies in all
    give the NICs the next two version ids), and the kernel holds the tests' own layout."""
    before = applied(nm_sandbox)
    env = nm_sandbox.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_EC2_HOST=emulator.url,
                         NM_CLOUD_SETUP_LOG="DEBUG",
                         NM_CLOUD_SETUP_STATE_DIR=str(nm_sandbox.workdir / "state"))
    procs = [subprocess.Popen([sys.executable, "-m", "nm_cloud_setup"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(runs)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    nm_sandbox.settle()

    assert [proc.returncode for proc in procs] == [0] * runs, outputs
    after = applied(nm_sandbox)
    interfaces = emulator.state.scenario["interfaces"]
    newest = max(connection.version_id for connection in before.values())
    assert sorted(after[name].version_id for name in ("eth1", "eth2")) == [newest + 1,
                                                                             newest + 2]
    for name, iface in zip(("eth1", "eth2"), interfaces):
        prefix = iface["subnet"].split("/")[1]
        assert after[name].ipv4.addresses == tuple(f"{a}/{prefix}" for a in iface["addresses"])
        assert nm_sandbox.addresses(name) == list(after[name].ipv4.addresses)
    rules, routes = expected_layout(interfaces, ifnames(nm_sandbox))
    assert policy_rules(nm_sandbox) == rules and policy_routes(nm_sandbox) == routes
    # and the logs say the same: one run configured both NICs, the others waited
    logs = "".join(out for out, _ in outputs)
    assert logs.count("reapplied") == 2
    assert "failure to reapply" not in logs and "changed in the meantime" not in logs
    assert logs.count("device needs no update") == 2 * (runs - 1)


def test_a_default_run_imports_only_what_it_uses(nm_sandbox, emulator):
    """No netlink library on the NetworkManager path, no retry machinery without a retry,
    no command-line parser on the bare invocation, and no other provider's module."""
    env = nm_sandbox.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_EC2_HOST=emulator.url,
                         NM_CLOUD_SETUP_STATE_DIR=str(nm_sandbox.workdir / "state"))
    code = ("import atexit, runpy, sys; atexit.register(lambda: print('MODULES', *sys.modules, "
            "file=sys.stderr)); runpy.run_module('nm_cloud_setup', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == ""  # the default level (WARN) says nothing on success...
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                            "172.31.32.12/20"]  # ...and the run did its work
    line = [x for x in result.stderr.splitlines() if x.startswith("MODULES ")][0]
    imported = {name.split(".")[0] for name in line.split()[1:]} | set(line.split()[1:])
    assert {"nm_cloud_setup.providers.ec2", "nm_cloud_setup.backends.nm.backend",
            "dbus_next"} <= imported
    for absent in ("pyroute2", "click", "tenacity", "requests",
                   "nm_cloud_setup.backends.netlink.backend", "nm_cloud_setup.providers.azure",
                   "nm_cloud_setup.pipeline.report"):
        assert absent not in imported, absent
