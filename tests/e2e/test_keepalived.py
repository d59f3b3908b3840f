"""Two VMs on one bridge sharing virtual IPs with Debian's keepalived, failing over while
nm-cloud-setup reapplies their NICs: the virtual IPs (IPv4 and IPv6) are never on both
VMs, and the tool never takes them from the master.

Each VM runs a real NetworkManager (IPv6 active: every Reapply bounces its IPv6) and
reads the metadata service on the bridge; a cycle changes both VMs' metadata, runs
the tool in both at once and, in the middle of the runs, stops the master's keepalived
(the other takes over) and starts it again as a backup.  Both VMs' addresses are
watched with ``ip monitor`` throughout.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from harness.lab import Lab, LabVm
from harness.sandbox import Nic
from tests.support.requirements import need, require_root

pytestmark = pytest.mark.root

VIP4, VIP6 = "10.50.0.200", "fd00:50::200"
CYCLES = 6
NICS = {"vm-a": Nic("eth1", "02:00:00:00:0a:01", "10.50.0.11", "10.50.0.0/24"),
        "vm-b": Nic("eth1", "02:00:00:00:0b:01", "10.50.0.12", "10.50.0.0/24")}
PRIORITY = {"vm-a": 100, "vm-b": 90}


def metadata(name: str, cycle: int) -> dict:
    """One NIC, its primary and a secondary that changes every cycle, and IPv6."""
    host = 11 if name == "vm-a" else 12
    return {"hostname": name, "interfaces": [{
        "mac": NICS[name].mac, "device_number": 0, "subnet": "10.50.0.0/24",
        "addresses": [f"10.50.0.{host}", f"10.50.0.{100 + host + 20 * (cycle % 2)}"],
        "ipv6_subnet": "fd00:50::/64", "ipv6s": [f"fd00:50::{host}"]}]}


class Keepalived:
    """keepalived in a VM: one VRRP instance on eth1 holding both virtual IPs, with
    ``no_track``, as docs/sharing.md advises on a NIC NetworkManager manages: any
    Reapply (anyone's) drops them for an instant, which keepalived would otherwise take
    for a fault and leave the master state for."""

    def __init__(self, vm: LabVm, name: str) -> None:
        self.vm, self.name = vm, name
        self.conf = Path(vm.workdir) / "keepalived.conf"
        self.conf.write_text(f"""
global_defs {{
    router_id {name}
    enable_script_security
}}
vrrp_instance VI_1 {{
    state BACKUP
    nopreempt
    interface eth1
    virtual_router_id 51
    priority {PRIORITY[name]}
    advert_int 1
    virtual_ipaddress {{
        {VIP4}/32 dev eth1 no_track
    }}
    virtual_ipaddress_excluded {{
        {VIP6}/128 dev eth1 no_track
    }}
}}
""")
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        work = Path(self.vm.workdir)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.vm.host_ns, "keepalived", "--dont-fork",
             "--log-console", "--vrrp", "-f", str(self.conf), "-p", str(work / "ka.pid"),
             "-r", str(work / "ka-vrrp.pid")],
            stdout=open(work / "keepalived.log", "a"), stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def holds(vm: LabVm) -> Tuple[bool, bool]:
    return (f"{VIP4}/32" in vm.addresses("eth1"),
            any(a.startswith(f"{VIP6}/") for a in vm.addresses6("eth1")))


class Watch:
    """``ip -ts monitor address`` in a VM: the times its virtual IPs came and went."""

    def __init__(self, vm: LabVm) -> None:
        self.proc = subprocess.Popen(["ip", "-n", vm.host_ns, "-ts", "monitor", "address"],
                                     stdout=subprocess.PIPE, text=True)

    def intervals(self, start: Dict[str, bool], end: float) -> Dict[str, List[Tuple]]:
        """VIP -> [(from, to)] the times the VM held it."""
        self.proc.terminate()
        out = self.proc.communicate()[0]
        held: Dict[str, List[Tuple]] = {VIP4: [], VIP6: []}
        since = {vip: (0.0 if start[vip] else None) for vip in held}
        for line in out.splitlines():
            for vip in held:
                if f" {vip}/" in line:
                    stamp = _seconds(line)
                    if line.split("]", 1)[1].strip().startswith("Deleted"):
                        if since[vip] is not None:
                            held[vip].append((since[vip], stamp))
                        since[vip] = None
                    elif since[vip] is None:
                        since[vip] = stamp
        for vip in held:
            if since[vip] is not None:
                held[vip].append((since[vip], end))
        return held


def _seconds(line: str) -> float:
    stamp = line[1:line.index("]")].split("T")[1]
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def overlaps(a: List[Tuple], b: List[Tuple]) -> List[float]:
    """Milliseconds that intervals of ``a`` and ``b`` overlap, each time they do."""
    return [(min(e1, e2) - max(s1, s2)) * 1000 for s1, e1 in a for s2, e2 in b
            if min(e1, e2) > max(s1, s2)]


class ToolRun(threading.Thread):
    """nm-cloud-setup in a VM, its log read as it comes: ``fetching`` is set when it
    starts reading the metadata, ``settling`` when its Reapplies are done and it watches
    what NetworkManager still drops."""

    def __init__(self, vm: LabVm) -> None:
        super().__init__()
        self.vm = vm
        self.fetching = threading.Event()
        self.settling = threading.Event()
        self.lines: List[str] = []
        self.returncode: Optional[int] = None
        self.start()

    def run(self) -> None:
        env = self.vm.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_LOG="DEBUG",
                          NM_CLOUD_SETUP_STATE_DIR=str(Path(self.vm.workdir) / "state"))
        proc = subprocess.Popen(self.vm.exec_in_host(sys.executable, "-m", "nm_cloud_setup"),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)
            if "get-config: starting" in line:
                self.fetching.set()
            if "guard: the Reapplies are done" in line:
                self.settling.set()
        self.returncode = proc.wait()
        self.fetching.set()
        self.settling.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)


def master(vms: Dict[str, LabVm]) -> Optional[str]:
    found = [name for name, vm in vms.items() if all(holds(vm))]
    return found[0] if len(found) == 1 else None


def wait_for_master(vms: Dict[str, LabVm], limit: float = 10) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        name = master(vms)
        if name is not None:
            return name
        time.sleep(0.1)
    raise AssertionError(f"no single master: {({n: holds(v) for n, v in vms.items()})}")


def test_virtual_ips_stay_on_exactly_one_vm_through_runs_and_failovers():
    require_root(with_nm=True)
    need("keepalived")
    rng = random.Random(21)
    with Lab() as lab:
        lab.start_service()
        vms = {name: lab.add_vm([nic], with_nm=True) for name, nic in NICS.items()}
        for name, vm in vms.items():
            assert lab.request("PUT", f"/v1/vms/{name}", metadata(name, 0))[0] == 201
            vm.reset_profiles(method="manual", ipv6="auto")
        daemons = {name: Keepalived(vm, name) for name, vm in vms.items()}
        for daemon in daemons.values():
            daemon.start()
        try:
            current = wait_for_master(vms)
            start = {name: dict(zip((VIP4, VIP6), holds(vm))) for name, vm in vms.items()}
            watches = {name: Watch(vm) for name, vm in vms.items()}
            put_back = 0
            time.sleep(0.2)
            for cycle in range(1, CYCLES + 1):
                for name in vms:
                    assert lab.request("PUT", f"/v1/vms/{name}", metadata(name, cycle))[0] \
                        == 200
                # The failover while the master runs the tool: before its Reapplies (odd
                # cycles), or after them, while the tool still watches what NetworkManager
                # drops (even cycles); the new master runs it as soon as it holds the
                # virtual IPs.  Its Reapplies drop them and the tool puts them back; the
                # old master's must not come back.  (Not inside the milliseconds between
                # a drop and its putting back: there an owner's removal finds nothing to
                # remove, and cannot be told apart; docs/sharing.md, "Foreign entries".)
                runs = {current: ToolRun(vms[current])}
                if cycle % 2:
                    runs[current].fetching.wait(30)
                    time.sleep(rng.uniform(0.0, 0.05))
                else:
                    runs[current].settling.wait(30)
                    time.sleep(rng.uniform(0.0, 0.05))
                daemons[current].stop()
                new = wait_for_master(vms)
                runs[new] = ToolRun(vms[new])
                for run in runs.values():
                    run.join()
                for name, run in runs.items():
                    assert run.returncode == 0, (name, run.output[-3000:])
                    put_back += run.output.count("put back address")
                    assert f"10.50.0.{100 + (11 if name == 'vm-a' else 12) + 20 * (cycle % 2)}" \
                        in " ".join(vms[name].addresses("eth1")), name
                current = wait_for_master(vms)
                assert current == new, f"cycle {cycle}"
                daemons[[n for n in vms if n != current][0]].start()
                time.sleep(1.5)  # the restarted one settles as a backup
                assert master(vms) == current, f"cycle {cycle}"
            end = time.time() % 86400 + 1
            held = {name: watch.intervals(start[name], end) for name, watch in watches.items()}
        finally:
            for daemon in daemons.values():
                daemon.stop()
    for vip in (VIP4, VIP6):
        both = overlaps(held["vm-a"][vip], held["vm-b"][vip])
        assert not [ms for ms in both if ms > 50], (vip, both, held)
    assert put_back, "no Reapply dropped a virtual IP: the runs did not reach the guard"
    print(f"\n{CYCLES} failovers; virtual IPs put back after a Reapply: {put_back}; held: "
          + "; ".join(f"{name} {vip} {len(spans)}x" for name, vips in held.items()
                      for vip, spans in vips.items()))
