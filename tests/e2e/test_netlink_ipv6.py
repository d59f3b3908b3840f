"""The netlink backend, dual-stack, against the real kernel in a namespace: the same plan
in both families, the same ownership rules (protocol 213, the record), and every
foreign IPv6 object survives."""

from __future__ import annotations

import subprocess
import time

import pytest

from harness.kernel_view import local_routes, policy_routes, policy_rules
from harness.sandbox import run
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.server import EmulatorServer
from tests.support.layout import assert_layout, expected_layout6, ifnames
from tests.support.vm import run_in_vm

pytestmark = pytest.mark.root


@pytest.fixture
def vm_emulator(kernel_sandbox):
    """The emulator listening on 127.0.0.1 inside the VM's namespace, dual-stack EC2."""
    servers = []

    def make(scenario=None, provider="ec2"):
        with kernel_sandbox.entered():
            server = EmulatorServer(("127.0.0.1", 0),
                                    scenario or scenarios.generate(2, 3, ipv6s=2), provider)
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


FOREIGN6 = [
    ("rule", "add", "priority", "30200", "from", "2001:db8:99::1", "table", "30200"),
    ("rule", "add", "priority", "30401", "from", "2600:1f18:aaaa:bb02::11", "table", "30401"),
    ("rule", "add", "priority", "100", "fwmark", "0x10", "table", "30400"),
    ("route", "add", "2001:db8:98::/48", "via", "2600:1f18:aaaa:bb01::1", "dev", "eth1",
     "table", "30400", "proto", "static"),
    ("addr", "add", "2001:db8:77::1/128", "dev", "eth1", "nodad"),
]


def test_dual_stack_layout_and_foreign_ipv6_entries_survive(kernel_sandbox, vm_emulator):
    ns = kernel_sandbox.host_ns
    for command in FOREIGN6:
        run("ip", "-n", ns, "-6", *command)
    before = {str(r) for r in kernel_sandbox.rules6()}
    emulator = vm_emulator()

    result = run_in_vm(kernel_sandbox, emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert kernel_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                                "172.31.32.12/20"]
    assert kernel_sandbox.addresses6("eth2") == ["2600:1f18:aaaa:bb02::10/64",
                                                 "2600:1f18:aaaa:bb02::11/64"]
    expected = emulator.state.scenario["interfaces"]
    rules6, routes6 = expected_layout6(expected, ifnames(kernel_sandbox))
    foreign_rules = {(30200, "2001:db8:99::1", "30200"), (30401, "2600:1f18:aaaa:bb02::11",
                                                         "30401")}
    assert policy_rules(kernel_sandbox, 6) == rules6 | foreign_rules
    assert policy_routes(kernel_sandbox, 6) == routes6 | {
        ("30400", "2001:db8:98::/48", "2600:1f18:aaaa:bb01::1", "eth1", 1024)}

    scenario = scenarios.generate(2, 3, ipv6s=1)  # our IPv6 secondaries and their rules go
    with emulator.state.lock:
        emulator.state.scenario = scenario
    assert run_in_vm(kernel_sandbox, emulator.url).returncode == 0

    assert before <= {str(r) for r in kernel_sandbox.rules6()}
    assert (30401, "2600:1f18:aaaa:bb02::11", "30401") in policy_rules(kernel_sandbox, 6)
    assert kernel_sandbox.addresses6("eth1") == ["2001:db8:77::1/128",
                                                 "2600:1f18:aaaa:bb01::10/64"]
    assert kernel_sandbox.addresses6("eth2") == ["2600:1f18:aaaa:bb02::10/64"]
    rules6, routes6 = expected_layout6(scenario["interfaces"], ifnames(kernel_sandbox))
    assert policy_rules(kernel_sandbox, 6) == rules6 | foreign_rules
    assert policy_routes(kernel_sandbox, 6) == routes6 | {
        ("30400", "2001:db8:98::/48", "2600:1f18:aaaa:bb01::1", "eth1", 1024)}
    assert kernel_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                                "172.31.16.12/20"]


def test_second_run_makes_no_netlink_change(kernel_sandbox, vm_emulator):
    emulator = vm_emulator()
    assert run_in_vm(kernel_sandbox, emulator.url).returncode == 0
    assert_layout(kernel_sandbox, emulator.state.scenario["interfaces"])
    monitor = subprocess.Popen(["ip", "-n", kernel_sandbox.host_ns, "monitor", "link", "address",
                                "route", "rule"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    try:
        result = run_in_vm(kernel_sandbox, emulator.url, {"NM_CLOUD_SETUP_BACKEND": "netlink"})
        time.sleep(0.3)
    finally:
        monitor.terminate()
        changes = monitor.communicate(timeout=5)[0]
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("device needs no update") == 2
    assert changes == ""


def test_ipv6_only_nic_and_gcp_style_local_ipv6_routes(kernel_sandbox, vm_emulator):
    scenario = scenarios.generate(2, 3, ipv6s=2)
    scenario["interfaces"][1]["addresses"] = []
    scenario["interfaces"][1]["ipv6_prefixes"] = ["2600:1f18:aaaa:bb02:5::/80"]
    emulator = vm_emulator(scenario)

    result = run_in_vm(kernel_sandbox, emulator.url, {"NM_CLOUD_SETUP_EC2_PREFIXES": "yes"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert_layout(kernel_sandbox, scenario["interfaces"], prefixes=True)
    assert kernel_sandbox.addresses("eth2") == ["172.31.32.10/20"]
    assert local_routes(kernel_sandbox, 6, protocol="213") == {
        ("2600:1f18:aaaa:bb02:5::/80", "eth2")}


def test_a_link_with_ipv6_disabled_gets_its_ipv4_part(kernel_sandbox, vm_emulator):
    run("ip", "netns", "exec", kernel_sandbox.host_ns, "sysctl", "-qw",
        "net.ipv6.conf.eth2.disable_ipv6=1")
    try:
        emulator = vm_emulator()
        result = run_in_vm(kernel_sandbox, emulator.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "IPv6 left as it is: net.ipv6.conf.eth2.disable_ipv6 is 1" in result.stdout
        assert kernel_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                                    "172.31.32.12/20"]
        assert not any(dev == "eth2" for *_, dev, _ in policy_routes(kernel_sandbox, 6))
        assert kernel_sandbox.addresses6("eth1")[1:] == ["2600:1f18:aaaa:bb01::11/64"]
    finally:
        run("ip", "netns", "exec", kernel_sandbox.host_ns, "sysctl", "-qw",
            "net.ipv6.conf.eth2.disable_ipv6=0")
