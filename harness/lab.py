"""A private cloud in network namespaces, for the metadata service's tests, demo and bench.

The hypervisor is one namespace with a bridge ``br0`` that carries
``169.254.169.254`` and the gateway of each VM subnet; the metadata service runs
there.  Each VM is a namespace whose veth NICs hang on that bridge, with static
primaries (``LabVm`` reuses the ``Sandbox``'s pieces, so a VM can run a real
NetworkManager).  Requests reach the service with the VM's own source address,
through real routing.  Needs root and iproute2.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from harness.sandbox import Nic, Sandbox, _kill_pid, _terminate, run
from nm_cloud_setup.service import client

METADATA_ADDRESS = "169.254.169.254"


def api_request(address: str, method: str, path: str, body: Any = None,
                token: Optional[str] = None, raw: Optional[bytes] = None) -> Tuple[int, Any]:
    """One management API request to ``unix:PATH`` or ``HOST:PORT``: (status, JSON or None)."""
    return client.request(address, method, path, body, token=token, raw=raw)


class LabVm(Sandbox):
    """A VM namespace whose NICs hang on the lab's bridge; NetworkManager optional."""

    def __init__(self, lab: "Lab", nics: Sequence[Nic], with_nm: bool = False) -> None:
        super().__init__(nics, with_nm=with_nm, tag=f"{lab.tag}{len(lab.vms)}")
        self.lab = lab
        self.host_ns = f"ncs-vm-{lab.tag}{len(lab.vms)}"
        self.cloud_ns = lab.ns
        self.containers: List["Container"] = []

    def start(self) -> None:
        run("ip", "netns", "add", self.host_ns)
        run("ip", "-n", self.host_ns, "link", "set", "lo", "up")
        # `ip netns exec` puts this over /etc/resolv.conf: name lookups in the VM fail at
        # once (cloud-init probes DNS) instead of timing out towards the host's resolver.
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:1\n")
        for number, nic in enumerate(self.nics, start=1):
            self._add_nic(number, nic)
        if self.with_nm:
            self._start_bus()
            self.start_nm()
        else:
            self.assign_primaries()

    def stop(self) -> None:
        for container in self.containers:
            container.stop()
        self.stop_nm()
        if self._bus_pid:
            _kill_pid(self._bus_pid)
            self._bus_pid = None
        run("ip", "netns", "del", self.host_ns, check=False)
        shutil.rmtree(self.etc, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def etc(self) -> Path:
        return Path("/etc/netns") / self.host_ns

    def _add_nic(self, number: int, nic: Nic) -> None:
        peer = f"v{self.host_ns[len('ncs-vm-'):]}n{number}"
        run("ip", "link", "add", nic.ifname, "netns", self.host_ns, "type", "veth",
            "peer", "name", peer, "netns", self.lab.ns)
        run("ip", "-n", self.host_ns, "link", "set", nic.ifname, "address", nic.mac)
        run("ip", "-n", self.lab.ns, "link", "set", peer, "master", "br0", "up")

    def run(self, *args: str, env: Optional[dict] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a command inside this VM (its network namespace)."""
        return subprocess.run(self.exec_in_host(*args), capture_output=True, text=True,
                              env=env or self.env(), timeout=timeout)

    def fetch(self, method: str, path: str, headers: Optional[dict] = None,
              timeout: float = 5, source: Optional[str] = None) -> Tuple[int, bytes]:
        """One request from inside this VM to the metadata address (from its own source
        address, or ``source``): (status, body)."""
        conn = http.client.HTTPConnection(METADATA_ADDRESS, 80, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        with self.entered():  # the socket is made, and connects, inside the VM
            conn.connect()
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def add_container(self, subnet: str = "192.168.77.0/24") -> "Container":
        """A container behind NAT in this VM (see Container)."""
        container = Container(self, ipaddress.ip_network(subnet))
        container.start()
        self.containers.append(container)
        return container


class Container:
    """A network namespace inside a VM, as a container runtime makes one: a veth pair to
    the VM, which forwards its traffic and masquerades it behind the VM's own address
    (nftables).  What it sends to the metadata address arrives from the VM's address,
    one hop further away than the VM itself."""

    def __init__(self, vm: LabVm, subnet: ipaddress.IPv4Network) -> None:
        self.vm = vm
        self.subnet = subnet
        self.ns = f"{vm.host_ns}-c"
        self.address = str(subnet[2])

    def start(self) -> None:
        vm_ns, gateway = self.vm.host_ns, str(self.subnet[1])
        run("ip", "netns", "add", self.ns)
        run("ip", "-n", self.ns, "link", "set", "lo", "up")
        run("ip", "link", "add", "eth0", "netns", self.ns, "type", "veth", "peer", "name",
            "ctr0", "netns", vm_ns)
        run("ip", "-n", self.ns, "addr", "add", f"{self.address}/{self.subnet.prefixlen}",
            "dev", "eth0")
        run("ip", "-n", self.ns, "link", "set", "eth0", "up")
        run("ip", "-n", self.ns, "route", "add", "default", "via", gateway)
        run("ip", "-n", vm_ns, "addr", "add", f"{gateway}/{self.subnet.prefixlen}", "dev", "ctr0")
        run("ip", "-n", vm_ns, "link", "set", "ctr0", "up")
        run("ip", "netns", "exec", vm_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        run("ip", "netns", "exec", vm_ns, "nft",
            "add table ip nat; "
            "add chain ip nat post { type nat hook postrouting priority 100; }; "
            f"add rule ip nat post ip saddr {self.subnet} oifname != ctr0 masquerade")

    def stop(self) -> None:
        run("ip", "netns", "del", self.ns, check=False)

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns, *args], capture_output=True,
                              text=True, timeout=timeout)


class Lab:
    """The hypervisor namespace with its bridge, the VMs, and the metadata service."""

    def __init__(self, subnets: Sequence[str] = ("10.50.0.0/24", "10.60.0.0/24"),
                 tag: Optional[str] = None) -> None:
        self.tag = tag or uuid.uuid4().hex[:5]
        self.ns = f"ncs-lab-{self.tag}"
        self.subnets = [ipaddress.ip_network(s) for s in subnets]
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ncs-lab-{self.tag}-"))
        self.db = self.workdir / "vms.db"
        self.api = f"unix:{self.workdir}/api.sock"
        self.vms: List[LabVm] = []
        self.service: Optional[subprocess.Popen] = None
        self.api_token: Optional[str] = None  # sent on API requests when set

    def __enter__(self) -> "Lab":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        run("ip", "netns", "add", self.ns)
        run("ip", "-n", self.ns, "link", "set", "lo", "up")
        run("ip", "-n", self.ns, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.ns, "addr", "add", f"{METADATA_ADDRESS}/32", "dev", "br0")
        for subnet in self.subnets:
            run("ip", "-n", self.ns, "addr", "add", f"{subnet[1]}/{subnet.prefixlen}",
                "dev", "br0")
        run("ip", "-n", self.ns, "link", "set", "br0", "up")

    def stop(self) -> None:
        self.stop_service()
        for vm in self.vms:
            vm.stop()
        self.vms.clear()
        run("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def add_vm(self, nics: Sequence[Nic], with_nm: bool = False) -> LabVm:
        vm = LabVm(self, nics, with_nm)
        self.vms.append(vm)
        vm.start()
        return vm

    # -- the service -------------------------------------------------------------

    def service_command(self, *extra: str, listen: str = f"{METADATA_ADDRESS}:80",
                        db: Optional[str] = None) -> List[str]:
        """The service's command line, run in the hypervisor namespace."""
        return ["ip", "netns", "exec", self.ns, sys.executable, "-m", "nm_cloud_setup.service",
                "--db", db or str(self.db), "--listen", listen, "--api", self.api, *extra]

    def start_service(self, *extra: str, listen: str = f"{METADATA_ADDRESS}:80",
                      db: Optional[str] = None, nofile: Optional[int] = None) -> None:
        """Start the service in the hypervisor namespace; wait until its API answers.
        ``db``: another database than the lab's SQLite file (``postgresql://...``);
        ``nofile``: its soft limit of open files (systemd's default is 1024)."""
        self.stop_service()
        log = open(self.workdir / "service.log", "a")

        def limit() -> None:
            if nofile is not None:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        self.service = subprocess.Popen(self.service_command(*extra, listen=listen, db=db),
                                        stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.service.poll() is not None:
                raise RuntimeError(f"the service exited: {self.service_log()}")
            try:
                if api_request(self.api, "GET", "/v1/health", token=self.api_token)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the service did not answer within 20 s")

    def stop_service(self) -> None:
        if self.service is not None:
            _terminate(self.service)
            self.service = None

    def service_log(self) -> str:
        path = self.workdir / "service.log"
        return path.read_text() if path.exists() else ""

    def service_memory(self) -> Tuple[int, int]:
        """The service's resident memory now and at its peak (VmRSS, VmHWM), in KiB."""
        assert self.service is not None
        fields = {}
        for line in Path(f"/proc/{self.service.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.split()[0] if value.split() else "0"
        return int(fields["VmRSS"]), int(fields["VmHWM"])

    def service_cpu(self) -> float:
        """The service's CPU time so far (user and system), in seconds."""
        assert self.service is not None
        fields = Path(f"/proc/{self.service.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Tuple[int, Any]:
        return api_request(self.api, method, path, body, token=self.api_token, **kw)
