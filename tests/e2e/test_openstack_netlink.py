"""OpenStack without NetworkManager: a hot-plugged NIC without DHCP, by the netlink backend.

The real kernel in the sandbox VM's namespace, the emulator on 127.0.0.1 there.
"""

from __future__ import annotations

import json

import pytest

from harness.kernel_view import policy_routes, policy_rules
from nm_cloud_setup.emulator.server import EmulatorServer
from tests.support.scenarios import ETH3, openstack_scenario
from tests.support.vm import run_in_vm

pytestmark = pytest.mark.root


@pytest.fixture
def vm(kernel_sandbox):
    """The emulator inside the VM; eth3 plugged (down, no address); unplugged after."""
    with kernel_sandbox.entered():
        server = EmulatorServer(("127.0.0.1", 0), openstack_scenario(), "openstack")
    server.start()
    kernel_sandbox.plug(ETH3, 10)
    yield server
    kernel_sandbox.unplug("eth3")
    server.shutdown()
    server.server_close()


def run(sandbox, server):
    return run_in_vm(sandbox, server.url, provider="openstack")


def main_routes(sandbox, ifname):
    return {(r["dst"], r.get("gateway", ""), r.get("metric", 0), r.get("protocol"))
            for r in sandbox.ip_json("-4", "route", "show", "dev", ifname)}


def test_a_static_nic_is_brought_up_and_configured_whole(kernel_sandbox, vm):
    result = run(kernel_sandbox, vm)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "using the netlink backend" in result.stdout
    link = kernel_sandbox.ip_json("link", "show", "eth3")[0]
    assert "UP" in link["flags"] and link["mtu"] == 1450
    assert kernel_sandbox.addresses("eth3") == ["172.31.48.10/20"]
    # the default route a DHCP server would have given, behind the DHCP NICs' (metric 1026:
    # 1024 + the third link), owned by this tool (protocol 213)
    assert ("default", "172.31.48.1", 1026, "213") in main_routes(kernel_sandbox, "eth3")
    assert (30402, "172.31.48.10", "30402") in policy_rules(kernel_sandbox)
    assert ("30402", "default", "172.31.48.1", "eth3", 10) in policy_routes(kernel_sandbox)
    assert ("<info>  netlink eth3: the name servers 192.0.2.53 8.8.8.8 are left to the "
            "system's resolver") in result.stdout
    # the DHCP NIC: nothing added
    assert kernel_sandbox.addresses("eth1") == ["172.31.16.10/20"]
    record = json.loads((kernel_sandbox.workdir / "state" / "netlink-owned.json").read_text())
    assert record["links"] == ["eth3"]

    again = run(kernel_sandbox, vm)
    assert again.returncode == 0 and "netlink eth3: add" not in again.stdout, again.stdout
    assert "device needs no update" in again.stdout


def test_an_unplugged_static_nic_is_forgotten(kernel_sandbox, vm):
    assert run(kernel_sandbox, vm).returncode == 0
    kernel_sandbox.unplug("eth3")

    result = run(kernel_sandbox, vm)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "<info>  netlink: eth3 is gone: forgotten, its rules removed" in result.stdout
    record = json.loads((kernel_sandbox.workdir / "state" / "netlink-owned.json").read_text())
    assert "eth3" not in record["links"] and "eth3" not in record["addresses"]
    assert not [rule for rule in policy_rules(kernel_sandbox)
                if rule[1].startswith("172.31.48.")]
