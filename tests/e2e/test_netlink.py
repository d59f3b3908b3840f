"""The netlink backend against the real kernel in a namespace with no NetworkManager."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from harness.kernel_view import policy_routes, policy_rules
from harness.sandbox import run
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.server import EmulatorServer
from tests.support.layout import expected_layout
from tests.support.scenarios import set_scenario
from tests.support.vm import run_in_vm, run_tool

pytestmark = pytest.mark.root


def layout(sandbox):
    return (sandbox.addresses("eth1"), sandbox.addresses("eth2"), policy_rules(sandbox),
            policy_routes(sandbox))


def test_same_layout_as_the_networkmanager_path(kernel_sandbox, vm_emulator, nm_sandbox,
                                                emulator):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    via_nm = layout(nm_sandbox)

    result = run_in_vm(kernel_sandbox, vm_emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "<info>  NetworkManager is not running" in result.stdout
    assert "using the netlink backend" in result.stdout
    assert layout(kernel_sandbox) == via_nm
    rules, routes = expected_layout(vm_emulator.state.scenario["interfaces"],
                                    {n.mac.upper(): n.ifname for n in kernel_sandbox.nics})
    assert policy_rules(kernel_sandbox) == rules and policy_routes(kernel_sandbox) == routes


def test_second_run_makes_no_netlink_change(kernel_sandbox, vm_emulator):
    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0
    monitor = subprocess.Popen(["ip", "-n", kernel_sandbox.host_ns, "monitor", "link", "address",
                                "route", "rule"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    try:
        result = run_in_vm(kernel_sandbox, vm_emulator.url,
                           {"NM_CLOUD_SETUP_BACKEND": "netlink"})
        time.sleep(0.3)
    finally:
        monitor.terminate()
        changes = monitor.communicate(timeout=5)[0]
    assert result.returncode == 0, result.stderr
    assert "device needs no update" in result.stdout
    assert changes == ""


def test_removed_address_disappears_with_its_rules(kernel_sandbox, vm_emulator):
    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0
    scenario = scenarios.generate(2, 3)
    scenario["interfaces"][0]["addresses"].remove("172.31.16.12")
    set_scenario(vm_emulator, scenario)

    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0

    assert kernel_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20"]
    rules, routes = expected_layout(scenario["interfaces"],
                                    {n.mac.upper(): n.ifname for n in kernel_sandbox.nics})
    assert policy_rules(kernel_sandbox) == rules and policy_routes(kernel_sandbox) == routes


def test_an_owned_address_with_an_old_prefix_gets_the_planned_one(kernel_sandbox,
                                                                   vm_emulator):
    """Found by the long soak: after a subnet was resized and resized back around a
    faulty run, an address this backend had added kept the old prefix while its
    routes had the new one; the IP was compared, not the prefix, so every later run
    said "no update".  The state is made here directly."""
    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0
    ns = kernel_sandbox.host_ns
    run("ip", "-n", ns, "addr", "del", "172.31.16.11/20", "dev", "eth1")
    run("ip", "-n", ns, "addr", "add", "172.31.16.11/22", "dev", "eth1")
    record = kernel_sandbox.workdir / "state" / "netlink-owned.json"
    record.write_text(record.read_text().replace('"172.31.16.11/20"', '"172.31.16.11/22"'))

    result = run_in_vm(kernel_sandbox, vm_emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(kernel_sandbox.addresses("eth1")) == [
        "172.31.16.10/20", "172.31.16.11/20", "172.31.16.12/20"]
    again = run_in_vm(kernel_sandbox, vm_emulator.url)
    assert again.returncode == 0 and "reapply connection" not in again.stdout


def test_foreign_entries_survive_every_run(kernel_sandbox, vm_emulator):
    ns = kernel_sandbox.host_ns
    foreign = [
        ("rule", "add", "priority", "30200", "from", "10.99.0.1", "table", "30200"),
        ("rule", "add", "priority", "30400", "from", "172.31.16.11", "table", "30400"),
        ("rule", "add", "priority", "100", "fwmark", "0x10", "table", "30400"),
        ("route", "add", "10.98.0.0/16", "via", "172.31.16.1", "dev", "eth1", "table", "30400",
         "proto", "static"),
        ("addr", "add", "192.168.77.1/32", "dev", "eth1"),
    ]
    for command in foreign:
        run("ip", "-n", ns, *command)
    before = {str(r) for r in kernel_sandbox.rules()}

    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0
    set_scenario(vm_emulator, scenarios.generate(2, 1))  # our secondaries and their rules go
    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0

    assert before <= {str(r) for r in kernel_sandbox.rules()}
    assert ("30400", "10.98.0.0/16", "172.31.16.1", "eth1", 0) in policy_routes(kernel_sandbox)
    assert "192.168.77.1/32" in kernel_sandbox.addresses("eth1")
    assert kernel_sandbox.addresses("eth1") == ["172.31.16.10/20", "192.168.77.1/32"]
    assert kernel_sandbox.addresses("eth2") == ["172.31.32.10/20"]
    assert (30400, "172.31.16.11", "30400") in policy_rules(kernel_sandbox)  # the admin's
    main_default = [r for r in kernel_sandbox.routes()
                    if r["dst"] == "default" and "table" not in r]
    assert len(main_default) == 2  # the main table's default routes are untouched


def test_gcp_local_routes(kernel_sandbox):
    scenario = scenarios.generate(2, 1)
    scenario["interfaces"][1]["forwarded_ips"] = ["35.1.2.3"]
    with kernel_sandbox.entered():
        server = EmulatorServer(("127.0.0.1", 0), scenario, "gcp")
    server.start()
    try:
        result = run_in_vm(kernel_sandbox, server.url, provider="gcp")
        assert result.returncode == 0, result.stdout + result.stderr
        assert local_routes_of(kernel_sandbox) == {("35.1.2.3/32", "eth2")}
        again = run_in_vm(kernel_sandbox, server.url, provider="gcp")
        assert "device needs no update" in again.stdout
    finally:
        server.shutdown()
        server.server_close()


def local_routes_of(sandbox):
    result = set()
    for route in sandbox.routes():
        if route.get("type") == "local" and route.get("protocol") == "213":
            result.add((route["dst"] + ("" if "/" in route["dst"] else "/32"), route["dev"]))
    return result


def test_forced_nm_backend_without_networkmanager_is_an_error(kernel_sandbox, vm_emulator):
    result = run_in_vm(kernel_sandbox, vm_emulator.url, {"NM_CLOUD_SETUP_BACKEND": "nm"})
    assert result.returncode == 1
    assert "NetworkManager is not running" in result.stdout + result.stderr
    assert kernel_sandbox.addresses("eth1") == ["172.31.16.10/20"]


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.0, 1.4, 1.8])
def test_sigterm_leaves_each_nic_as_before_or_as_planned(kernel_sandbox, vm_emulator, delay):
    def nic_state(ifname):
        rules = {r for r in policy_rules(kernel_sandbox) if r[1].startswith(
            "172.31.16." if ifname == "eth1" else "172.31.32.")}
        return kernel_sandbox.addresses(ifname), rules

    before = {n: nic_state(n) for n in ("eth1", "eth2")}
    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0
    planned = {n: nic_state(n) for n in ("eth1", "eth2")}
    kernel_sandbox.reset_kernel()
    with vm_emulator.state.lock:
        vm_emulator.state.latency = 0.15  # a run takes about two seconds

    env = kernel_sandbox.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_EC2_HOST=vm_emulator.url,
                             NM_CLOUD_SETUP_STATE_DIR=str(kernel_sandbox.workdir / "state"))
    proc = subprocess.Popen(kernel_sandbox.exec_in_host(sys.executable, "-m", "nm_cloud_setup"),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)

    for ifname in ("eth1", "eth2"):
        assert nic_state(ifname) in (before[ifname], planned[ifname])


@pytest.mark.parametrize("runs", [2, 5])
def test_concurrent_runs_end_as_one_run(kernel_sandbox, vm_emulator, runs):
    """Runs started together (the run lock makes them wait for each other), judged by the
    kernel: every one exits 0, each NIC holds its listed addresses once, the policy
    routing is the tests' own layout, and a run after them leaves it as it is."""
    env = kernel_sandbox.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_EC2_HOST=vm_emulator.url,
                             NM_CLOUD_SETUP_STATE_DIR=str(kernel_sandbox.workdir / "state"))
    procs = [subprocess.Popen(kernel_sandbox.exec_in_host(sys.executable, "-m", "nm_cloud_setup"),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(runs)]
    outputs = [proc.communicate(timeout=120) for proc in procs]

    assert [proc.returncode for proc in procs] == [0] * runs, outputs
    interfaces = vm_emulator.state.scenario["interfaces"]
    for nic, iface in zip(kernel_sandbox.nics, interfaces):
        prefix = iface["subnet"].split("/")[1]
        assert sorted(kernel_sandbox.addresses(nic.ifname)) == sorted(
            f"{address}/{prefix}" for address in iface["addresses"]), nic.ifname
    rules, routes = expected_layout(interfaces,
                                    {n.mac.upper(): n.ifname for n in kernel_sandbox.nics})
    assert policy_rules(kernel_sandbox) == rules and policy_routes(kernel_sandbox) == routes
    settled = layout(kernel_sandbox)
    assert run_in_vm(kernel_sandbox, vm_emulator.url).returncode == 0
    assert layout(kernel_sandbox) == settled
