"""The OpenStack hot-plug demo: a NIC on a network without DHCP plugged into a running VM.

Run as root: ``scripts/demo --openstack-hotplug``.  A throwaway VM with
NetworkManager and eth1 on a DHCP network; the OpenStack metadata emulator names
eth1 (``ipv4_dhcp``) and eth2 (static, with a name server).  eth2 is plugged,
nm-cloud-setup runs as the udev rule runs it, then again, then eth2 is unplugged
and it runs once more.
"""

from __future__ import annotations

import sys
from typing import Callable

from harness.sandbox import Nic, Sandbox, nics_for_scenario, run, run_measured
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.server import EmulatorServer

PLUGGED = Nic("eth2", "02:00:00:00:00:02", "172.31.32.10", "172.31.32.0/20")


def scenario() -> dict:
    result = scenarios.generate(2, 1)
    result["interfaces"][0]["dhcp"] = True  # Nova's ipv4_dhcp: the address is DHCP's
    result["interfaces"][1].update(mtu=1450, dns=["172.31.32.2"])
    result["openstack"] = {"dns": ["8.8.8.8"]}
    return result


def demo(echo: Callable[[str], None], title: Callable[[str], None],
         nm_root=None) -> int:
    """Run the demo; the exit status of the first run of nm-cloud-setup."""
    server = EmulatorServer(("127.0.0.1", 0), scenario(), "openstack").start()
    try:
        with Sandbox(nics_for_scenario(1), tag="hotplug", nm_root=nm_root) as sandbox:
            sandbox.reset_profiles()
            env = sandbox.env(NM_CLOUD_SETUP_OPENSTACK="yes",
                              NM_CLOUD_SETUP_OPENSTACK_HOST=server.url,
                              NM_CLOUD_SETUP_LOG="INFO",
                              NM_CLOUD_SETUP_STATE_DIR=str(sandbox.workdir / "state"))
            command = [sys.executable, "-m", "nm_cloud_setup"]

            def shell(*args: str) -> None:
                echo(f"$ {' '.join(args)}")
                out = (run("ip", "-n", sandbox.host_ns, *args[1:]) if args[0] == "ip"
                       else sandbox.nmcli(*args[1:]))
                echo(out.stdout.rstrip())

            def tool(label: str) -> int:
                result = run_measured(command, env)
                sandbox.settle()
                title(f"{label}: nm-cloud-setup exited {result.returncode} "
                      f"({result.wall * 1000:.0f} ms)")
                echo((result.stdout + result.stderr).rstrip())
                return result.returncode

            sandbox.plug(PLUGGED, 2)
            sandbox.settle(quiet=0.5)
            title("eth2 plugged: its network has no DHCP server, it has no profile")
            shell("nmcli", "-f", "DEVICE,STATE,CONNECTION", "device")
            status = tool("the udev rule runs nm-cloud-setup")
            for args in (("nmcli", "-f", "NAME,TYPE,DEVICE,FILENAME", "connection"),
                         ("nmcli", "-g", "ipv4.method,ipv4.dns,802-3-ethernet.mtu",
                          "connection", "show", "nm-cloud-setup eth2"),
                         ("ip", "-4", "-br", "addr"), ("ip", "-4", "rule"),
                         ("ip", "-4", "route", "show", "table", "all", "dev", "eth2")):
                shell(*args)
            tool("again, metadata unchanged")
            sandbox.unplug("eth2")
            tool("eth2 unplugged: the udev rule runs nm-cloud-setup")
            shell("nmcli", "-f", "NAME,TYPE,DEVICE", "connection")
            return status
    finally:
        server.shutdown()
        server.server_close()
