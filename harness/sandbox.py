"""A throwaway cloud VM for tests, the demo and benchmarks.

Two network namespaces: the "host" (the VM, with veth NICs, optionally a real
NetworkManager on a private system bus) and the "cloud" (the other ends of the
veths, the gateways, and dnsmasq handing out the primary addresses by DHCP).
Needs root, iproute2, dnsmasq (dnsmasq-base), and for NetworkManager the
network-manager and dbus-daemon packages.  Never touches the machine's own
namespace beyond creating and deleting the two namespaces.  IPv6 is enabled in
both namespaces, without duplicate-address detection (no delays, no late events).
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

from harness import nm_daemon
from harness.measure import Measured, run_measured  # noqa: F401 (re-exported)
from harness.vm_state import VmState, run

CLONE_NEWNET = 0x40000000

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

@dataclass(frozen=True)
class Nic:
    """One NIC of the sandbox VM: its name, MAC and DHCP primary address; optionally its
    primary IPv6 address (static in the profile, standing in for DHCPv6) and subnet."""

    ifname: str
    mac: str
    address: str
    subnet: str
    ipv6_address: Optional[str] = None
    ipv6_subnet: Optional[str] = None

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def gateway6(self) -> Optional[str]:
        return str(ipaddress.ip_network(self.ipv6_subnet)[1]) if self.ipv6_subnet else None

    @property
    def prefix6(self) -> Optional[int]:
        return ipaddress.ip_network(self.ipv6_subnet).prefixlen if self.ipv6_subnet else None


def nics_for_scenario(count: int, ipv6: bool = False) -> list:
    """Sandbox NICs whose MACs and primaries match ``scenario.generate(count, ...)``
    (with ``ipv6``, also the IPv6 primaries of ``generate(count, ..., ipv6s=N)``)."""
    from nm_cloud_setup.emulator.scenario import nic

    nics = []
    for number in range(count):
        data = nic(number, 1, ipv6s=1 if ipv6 else 0)
        nics.append(Nic(f"eth{number + 1}", data["mac"], data["addresses"][0], data["subnet"],
                        (data.get("ipv6s") or [None])[0], data.get("ipv6_subnet")))
    return nics


def missing_tools(with_nm: bool = True) -> list[str]:
    """The commands this sandbox needs that are not installed."""
    tools = ["ip", "dnsmasq"] + (["NetworkManager", "nmcli", "dbus-daemon"] if with_nm else [])
    return [tool for tool in tools if shutil.which(tool) is None]


class Sandbox(VmState):
    """A host namespace with veth NICs, a cloud namespace with DHCP, optionally NetworkManager."""

    def __init__(self, nics: Sequence[Nic], with_nm: bool = True, tag: str | None = None,
                 nm_log_level: str = "INFO", nm_root: Optional[Path] = None) -> None:
        """``nm_root``: run the NetworkManager of that debootstrap tree (another version)."""
        self.nics = list(nics)
        self.with_nm = with_nm
        self.nm_root = nm_root
        if nm_root is not None:
            self.settle_quiet = 0.4
        tag = tag or uuid.uuid4().hex[:6]
        self.host_ns = f"ncs-host-{tag}"
        self.cloud_ns = f"ncs-cloud-{tag}"
        self.nm_log_level = nm_log_level
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ncs-{tag}-"))
        self.bus_address = f"unix:path={self.workdir}/bus.sock"
        self._procs: list[subprocess.Popen] = []
        self._bus_pid: int | None = None
        self.nm_proc: subprocess.Popen | None = None

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> "Sandbox":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        run("ip", "netns", "add", self.host_ns)
        run("ip", "netns", "add", self.cloud_ns)
        for ns in (self.host_ns, self.cloud_ns):
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0",
                "net.ipv6.conf.default.disable_ipv6=0", "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0")
        # The kernel itself takes no router advertisements in the VM: NetworkManager
        # handles them in userspace, and without it the tests set IPv6 up as DHCPv6 would.
        run("ip", "netns", "exec", self.host_ns, "sysctl", "-qw",
            "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0")
        if self.with_nm:
            # As systemd's sysctl.d/50-default.conf does on the systems NetworkManager
            # runs on: removing a subnet's first address keeps its other addresses.
            # (NetworkManager leaves it to the system; the netlink VMs keep the
            # kernel's default, 0, which that backend turns on itself.)
            run("ip", "netns", "exec", self.host_ns, "sysctl", "-qw",
                "net.ipv4.conf.all.promote_secondaries=1",
                "net.ipv4.conf.default.promote_secondaries=1")
        for number, nic in enumerate(self.nics, start=1):
            self._add_nic(number, nic)
        self._start_dhcp()
        if self.with_nm:
            self._start_bus()
            self.start_nm()

    def stop(self) -> None:
        self.stop_nm()
        for proc in self._procs:
            _terminate(proc)
        self._procs.clear()
        if self._bus_pid:
            _kill_pid(self._bus_pid)
            self._bus_pid = None
        for ns in (self.host_ns, self.cloud_ns):
            run("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def readd_nic(self, ifname: str) -> None:
        """Put back a NIC that was deleted (a hot-unplug undone)."""
        for number, nic in enumerate(self.nics, start=1):
            if nic.ifname == ifname:
                self._add_nic(number, nic)

    def plug(self, nic: Nic, number: int) -> None:
        """Hot-plug a NIC on a static network: DHCP does not serve it (its peer
        ``peerNUMBER``, NUMBER above the sandbox's own NICs', holds the gateway)."""
        self._add_nic(number, nic)

    def unplug(self, ifname: str) -> None:
        """Hot-unplug a NIC (its peer goes with it)."""
        run("ip", "-n", self.host_ns, "link", "del", ifname, check=False)

    def _add_nic(self, number: int, nic: Nic) -> None:
        peer = f"peer{number}"
        run("ip", "link", "add", nic.ifname, "netns", self.host_ns, "type", "veth",
            "peer", "name", peer, "netns", self.cloud_ns)
        run("ip", "-n", self.host_ns, "link", "set", nic.ifname, "address", nic.mac)
        run("ip", "-n", self.cloud_ns, "addr", "add", f"{nic.gateway}/{nic.prefix}", "dev", peer)
        if nic.ipv6_subnet:
            run("ip", "-n", self.cloud_ns, "addr", "add", f"{nic.gateway6}/{nic.prefix6}",
                "dev", peer, "nodad")
        run("ip", "-n", self.cloud_ns, "link", "set", peer, "up")

    def _start_dhcp(self) -> None:
        args = ["ip", "netns", "exec", self.cloud_ns, "dnsmasq", "-k", "--conf-file=/dev/null",
                "--port=0", "--bind-dynamic", "--user=root", "--log-facility=-",
                f"--dhcp-leasefile={self.workdir}/dnsmasq.leases",
                f"--pid-file={self.workdir}/dnsmasq.pid"]
        for number, nic in enumerate(self.nics, start=1):
            net = ipaddress.ip_network(nic.subnet)
            args += [f"--interface=peer{number}",
                     f"--dhcp-range={net.network_address},static,{net.netmask},infinite",
                     f"--dhcp-host={nic.mac},{nic.address}"]
            if nic.ipv6_subnet:  # router advertisements, and DHCPv6 for the IPv6 primary
                net6 = ipaddress.ip_network(nic.ipv6_subnet)
                args += [f"--dhcp-range={net6.network_address},static,{net6.prefixlen},infinite",
                         f"--dhcp-host={nic.mac},[{nic.ipv6_address}]"]
        if any(nic.ipv6_subnet for nic in self.nics):
            args.append("--enable-ra")
        log = open(self.workdir / "dnsmasq.log", "w")
        self._procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))

    def _start_bus(self) -> None:
        config = self.workdir / "bus.conf"
        config.write_text(_BUS_CONFIG.format(socket=f"{self.workdir}/bus.sock"))
        out = run("dbus-daemon", f"--config-file={config}", "--fork", "--print-pid").stdout
        self._bus_pid = int(out.split()[0])

    # -- NetworkManager --------------------------------------------------------

    def start_nm(self) -> None:
        """Start NetworkManager in the host namespace and wait until it runs."""
        script = nm_daemon.script(self.workdir, self.nm_log_level, self.nm_root)
        log = open(self.workdir / "NetworkManager.log", "a")
        self.nm_proc = subprocess.Popen(
            ["ip", "netns", "exec", self.host_ns, "unshare", "-m", "--propagation", "private",
             "sh", "-c", script],
            stdout=log, stderr=subprocess.STDOUT, env=self.env())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.nm_proc.poll() is not None:
                raise RuntimeError(f"NetworkManager exited; see {self.workdir}/NetworkManager.log")
            out = self.nmcli("-t", "-f", "RUNNING", "general", check=False)
            if out.returncode == 0 and out.stdout.strip() == "running":
                self._wait_managed(deadline)
                return
            time.sleep(0.1)
        raise RuntimeError("NetworkManager did not come up within 30 s")

    def _wait_managed(self, deadline: float) -> None:
        names = {nic.ifname for nic in self.nics if self.has_link(nic.ifname)}  # plugged ones
        while time.monotonic() < deadline:
            out = self.nmcli("-t", "-f", "DEVICE,STATE", "device", check=False).stdout
            states = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
            if all(states.get(n, "unmanaged") not in ("unmanaged", "unavailable") for n in names):
                return
            time.sleep(0.1)
        raise RuntimeError("NetworkManager did not manage the NICs within 30 s")

    def stop_nm(self) -> None:
        if self.nm_proc is not None:
            _terminate(self.nm_proc)
            self.nm_proc = None

    def env(self, **extra: str) -> dict:
        """The environment for a client of this sandbox's bus."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NM_CLOUD_SETUP")}
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus_address
        env.update(extra)
        return env

    def nmcli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("nmcli", *args, check=check, env=self.env())

    def reset_profiles(self, method: str = "auto", skip: Sequence[str] = (),
                       ipv6: str = "disabled", extra: Sequence[str] = ()) -> None:
        """Delete every profile, clean the kernel, and bring each NIC up with a fresh one.

        ``ipv6``: the profiles' ``ipv6.method``; ``manual`` gives each NIC with an IPv6
        primary that address and its gateway (as DHCPv6 would); ``extra``: more nmcli
        settings for every profile.
        """
        out = self.nmcli("-t", "-f", "UUID", "connection", "show").stdout
        for con_uuid in out.split():
            self.nmcli("connection", "delete", con_uuid, check=False)
        self.flush_policy_routing()
        self.reset_mtus()
        for nic in self.nics:
            args = ["connection", "add", "type", "ethernet", "ifname", nic.ifname,
                    "con-name", nic.ifname]
            if method == "auto":
                args += ["ipv4.method", "auto"]
            else:
                args += ["ipv4.method", "manual", "ipv4.addresses", f"{nic.address}/{nic.prefix}",
                         "ipv4.gateway", nic.gateway]
            if ipv6 == "manual" and nic.ipv6_address:
                args += ["ipv6.method", "manual", "ipv6.addresses",
                         f"{nic.ipv6_address}/{nic.prefix6}", "ipv6.gateway", nic.gateway6]
            else:
                args += ["ipv6.method", "disabled" if ipv6 == "manual" else ipv6]
            self.nmcli(*args, *extra)
            if nic.ifname in skip:
                self._set_skip(nic.ifname)
        for nic in self.nics:
            self.nmcli("--wait", "20", "connection", "up", nic.ifname)
        if ipv6 in ("manual", "auto", "dhcp"):
            self._wait_ipv6_primaries()

    def _wait_ipv6_primaries(self, limit: float = 15.0) -> None:
        """Until each NIC holds its IPv6 primary (DHCPv6 comes after activation)."""
        deadline = time.monotonic() + limit
        for nic in self.nics:
            while nic.ipv6_address and not any(
                    a.startswith(f"{nic.ipv6_address}/") for a in self.addresses6(nic.ifname)):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{nic.ifname} got no IPv6 primary within {limit:g} s")
                time.sleep(0.1)

    def _set_skip(self, con_name: str) -> None:
        path = self.workdir / "nm" / "keyfiles" / f"{con_name}.nmconnection"
        with path.open("a") as keyfile:
            keyfile.write("\n[user]\norg.freedesktop.nm-cloud-setup.skip=yes\n")
        self.nmcli("connection", "reload")

    def assign_primaries(self) -> None:
        """Without NetworkManager: what a DHCP client would do (address, default route);
        the IPv6 primaries too, where the NICs have them (as DHCPv6 would)."""
        for number, nic in enumerate(self.nics):
            run("ip", "-n", self.host_ns, "link", "set", nic.ifname, "up")
            run("ip", "-n", self.host_ns, "addr", "replace", f"{nic.address}/{nic.prefix}",
                "dev", nic.ifname)
            run("ip", "-n", self.host_ns, "route", "replace", "default", "via", nic.gateway,
                "dev", nic.ifname, "proto", "dhcp", "metric", str(100 + number))
            if nic.ipv6_address:
                run("ip", "-n", self.host_ns, "addr", "replace",
                    f"{nic.ipv6_address}/{nic.prefix6}", "dev", nic.ifname, "nodad")
                run("ip", "-n", self.host_ns, "-6", "route", "replace", "default", "via",
                    str(nic.gateway6), "dev", nic.ifname, "proto", "dhcp", "metric",
                    str(100 + number))

    def reset_mtus(self, mtu: int = 1500) -> None:
        """Each NIC's MTU back to ``mtu`` (a run against GCP's emulator sets 1460)."""
        for nic in self.nics:
            run("ip", "-n", self.host_ns, "link", "set", nic.ifname, "mtu", str(mtu))

    def reset_kernel(self) -> None:
        """Back to DHCP primaries only: secondary addresses, policy rules and tables gone,
        each NIC's MTU 1500."""
        self.flush_policy_routing()
        self.reset_mtus()
        for nic in self.nics:
            run("ip", "-n", self.host_ns, "-4", "addr", "flush", "dev", nic.ifname)
            run("ip", "-n", self.host_ns, "-6", "addr", "flush", "dev", nic.ifname, "scope",
                "global")
        for family in ("-4", "-6"):
            run("ip", "-n", self.host_ns, family, "route", "flush", "table", "local", "proto",
                "213", check=False)
        self.assign_primaries()

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the body (in this thread) inside the host namespace: sockets made here stay there."""
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.host_ns}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the sandbox failed")
            try:
                yield
            finally:
                if libc.setns(home, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back home failed")
        finally:
            os.close(home)
            os.close(target)

    def exec_in_host(self, *args: str) -> list[str]:
        """A command line that runs ARGS inside the host namespace."""
        return ["ip", "netns", "exec", self.host_ns, *args]


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
