"""A throwaway cloud VM for tests, the demo and benchmarks.

Two network namespaces: the "host" (the VM, with veth NICs, optionally a real
NetworkManager on a private system bus) and the "cloud" (the other ends of the
veths, the gateways, and dnsmasq handing out the primary addresses by DHCP).
Needs root, iproute2, dnsmasq (dnsmasq-base), and for NetworkManager the
network-manager and dbus-daemon packages.  Never touches the machine's own
namespace beyond creating and deleting the two namespaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

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

_NM_CONFIG = """[main]
plugins=keyfile
no-auto-default=*
dns=none
rc-manager=unmanaged
hostname-mode=none
auth-polkit=false

[keyfile]
path={keyfile_dir}
unmanaged-devices=interface-name:peer*

[connectivity]
enabled=false

[logging]
level={log_level}
"""


@dataclass(frozen=True)
class Nic:
    """One NIC of the sandbox VM: its name, MAC and DHCP primary address."""

    ifname: str
    mac: str
    address: str
    subnet: str

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


def nics_for_scenario(count: int) -> list:
    """Sandbox NICs whose MACs and DHCP primaries match ``scenario.generate(count, ...)``."""
    from nm_cloud_setup.emulator.scenario import nic

    nics = []
    for number in range(count):
        data = nic(number, 1)
        nics.append(Nic(f"eth{number + 1}", data["mac"], data["addresses"][0], data["subnet"]))
    return nics


def run(*args: str, check: bool = True, env: dict | None = None,
        timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; raise with its stderr on failure."""
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def missing_tools(with_nm: bool = True) -> list[str]:
    """The commands this sandbox needs that are not installed."""
    tools = ["ip", "dnsmasq"] + (["NetworkManager", "nmcli", "dbus-daemon"] if with_nm else [])
    return [tool for tool in tools if shutil.which(tool) is None]


class Sandbox:
    """A host namespace with veth NICs, a cloud namespace with DHCP, optionally NetworkManager."""

    def __init__(self, nics: Sequence[Nic], with_nm: bool = True, tag: str | None = None,
                 nm_log_level: str = "INFO") -> None:
        self.nics = list(nics)
        self.with_nm = with_nm
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

    def _add_nic(self, number: int, nic: Nic) -> None:
        peer = f"peer{number}"
        run("ip", "link", "add", nic.ifname, "netns", self.host_ns, "type", "veth",
            "peer", "name", peer, "netns", self.cloud_ns)
        run("ip", "-n", self.host_ns, "link", "set", nic.ifname, "address", nic.mac)
        run("ip", "-n", self.cloud_ns, "addr", "add", f"{nic.gateway}/{nic.prefix}", "dev", peer)
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
        nm_dir = self.workdir / "nm"
        for sub in ("conf.d", "system-conf.d", "keyfiles", "lib"):
            (nm_dir / sub).mkdir(parents=True, exist_ok=True)
        config = nm_dir / "NetworkManager.conf"
        config.write_text(_NM_CONFIG.format(keyfile_dir=nm_dir / "keyfiles",
                                            log_level=self.nm_log_level))
        script = (
            "mkdir -p /run/NetworkManager && mount -t tmpfs tmpfs /run/NetworkManager && "
            "mount -o remount,bind,ro /sys && "
            f"mount --bind {nm_dir / 'lib'} /var/lib/NetworkManager && "
            f"exec NetworkManager --no-daemon --config={config} --config-dir={nm_dir / 'conf.d'} "
            f"--system-config-dir={nm_dir / 'system-conf.d'} "
            f"--intern-config={nm_dir / 'intern.conf'} --state-file={nm_dir / 'state'} "
            f"--pid-file={nm_dir / 'nm.pid'}"
        )
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
        names = {nic.ifname for nic in self.nics}
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

    def reset_profiles(self, method: str = "auto", skip: Sequence[str] = ()) -> None:
        """Delete every profile, clean the kernel, and bring each NIC up with a fresh one."""
        out = self.nmcli("-t", "-f", "UUID", "connection", "show").stdout
        for con_uuid in out.split():
            self.nmcli("connection", "delete", con_uuid, check=False)
        self.flush_policy_routing()
        for nic in self.nics:
            args = ["connection", "add", "type", "ethernet", "ifname", nic.ifname,
                    "con-name", nic.ifname, "ipv6.method", "disabled"]
            if method == "auto":
                args += ["ipv4.method", "auto"]
            else:
                args += ["ipv4.method", "manual", "ipv4.addresses", f"{nic.address}/{nic.prefix}",
                         "ipv4.gateway", nic.gateway]
            self.nmcli(*args)
            if nic.ifname in skip:
                self._set_skip(nic.ifname)
        for nic in self.nics:
            self.nmcli("--wait", "20", "connection", "up", nic.ifname)

    def _set_skip(self, con_name: str) -> None:
        path = self.workdir / "nm" / "keyfiles" / f"{con_name}.nmconnection"
        with path.open("a") as keyfile:
            keyfile.write("\n[user]\norg.freedesktop.nm-cloud-setup.skip=yes\n")
        self.nmcli("connection", "reload")

    def assign_primaries(self) -> None:
        """Without NetworkManager: what a DHCP client would do (address, default route)."""
        for number, nic in enumerate(self.nics):
            run("ip", "-n", self.host_ns, "link", "set", nic.ifname, "up")
            run("ip", "-n", self.host_ns, "addr", "replace", f"{nic.address}/{nic.prefix}",
                "dev", nic.ifname)
            run("ip", "-n", self.host_ns, "route", "replace", "default", "via", nic.gateway,
                "dev", nic.ifname, "proto", "dhcp", "metric", str(100 + number))

    def reset_kernel(self) -> None:
        """Back to DHCP primaries only: secondary addresses, policy rules and tables gone."""
        self.flush_policy_routing()
        for nic in self.nics:
            run("ip", "-n", self.host_ns, "addr", "flush", "dev", nic.ifname)
        run("ip", "-n", self.host_ns, "route", "flush", "table", "local", "proto", "213",
            check=False)
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

    def flush_policy_routing(self) -> None:
        """Remove policy rules and numbered tables (NetworkManager leaves tables behind)."""
        for rule in self.rules():
            if 1 <= rule.get("priority", 0) < 32766:
                run("ip", "-n", self.host_ns, "rule", "del", "priority", str(rule["priority"]),
                    check=False)
        for route in self.routes():
            table = route.get("table")
            if isinstance(table, str) and table.isdigit() and int(table) not in (253, 254, 255):
                run("ip", "-n", self.host_ns, "route", "flush", "table", table, check=False)

    # -- kernel state ----------------------------------------------------------

    def ip_json(self, *args: str) -> list:
        out = run("ip", "-n", self.host_ns, "-j", *args).stdout
        return json.loads(out) if out.strip() else []

    def addresses(self, ifname: str) -> list[str]:
        """The IPv4 addresses on a NIC, as ADDR/PREFIX: the primaries in kernel order, then
        the secondaries sorted (NetworkManager adds secondaries in no fixed order)."""
        primaries, secondaries = [], []
        for link in self.ip_json("-4", "addr", "show", "dev", ifname):
            for info in link.get("addr_info", []):
                target = secondaries if info.get("secondary") else primaries
                target.append((ipaddress.ip_address(info["local"]), info["prefixlen"]))
        return [f"{a}/{p}" for a, p in primaries + sorted(secondaries)]

    def mtu(self, ifname: str) -> int:
        return self.ip_json("link", "show", ifname)[0]["mtu"]

    def has_link(self, ifname: str) -> bool:
        return run("ip", "-n", self.host_ns, "link", "show", ifname, check=False).returncode == 0

    def settle(self, quiet: float = 0.15, limit: float = 3.0) -> None:
        """Wait until the VM's addresses, rules and routes stop changing (at most ``limit``).

        NetworkManager answers Reapply once it has accepted the settings and commits
        them to the kernel an instant later; read the kernel after this.
        """
        deadline = time.monotonic() + limit
        last = None
        while time.monotonic() < deadline:
            now = (self.ip_json("-4", "addr"), self.rules(), self.routes())
            if now == last:
                return
            last = now
            time.sleep(quiet)

    def rules(self) -> list[dict]:
        return self.ip_json("-4", "rule", "show")

    def routes(self) -> list[dict]:
        return self.ip_json("-4", "route", "show", "table", "all")

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


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float
    max_rss_kib: int


def run_measured(args: Sequence[str], env: dict | None = None) -> Measured:
    """Run a command; its wall time, CPU time (user+sys) and peak RSS from wait4."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(proc.returncode, out.read(), err.read(), wall,
                        usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
