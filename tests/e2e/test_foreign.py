"""Another program's addresses, routes and rules survive every run: keepalived's virtual
IPs, a CNI's routes, an administrator's rules, on both daemons and for every
``ipv6.method`` a profile may have; the profile's own IPv6 and link-local addresses
stay too.  NetworkManager's Reapply drops some of them (without preserve-external-ip
before 1.52, and in the IPv6 bounce): they are put back at once, and the kernel,
watched all along, shows for how long they were missing (docs/sharing.md,
"Foreign entries")."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Dict, List, Tuple

import pytest

from harness.sandbox import run
from nm_cloud_setup.emulator import scenario as scenarios
from tests.support.nm_daemons import BOTH_DAEMONS
from tests.support.scenarios import set_scenario
from tests.support.vm import run_tool

pytestmark = [pytest.mark.root, BOTH_DAEMONS]

VIP4, VIP6 = "172.31.16.200/32", "2600:1f18:aaaa:bb01::200/128"
# name: (family, how to add it, how to see it in `ip FAMILY -o ... show`)
FOREIGN: Dict[str, Tuple[str, List[str], List[str]]] = {
    "virtual IPv4": ("-4", ["addr", "add", VIP4, "dev", "eth1"], ["addr", "show", "dev", "eth1"]),
    "virtual IPv6": ("-6", ["addr", "add", VIP6, "dev", "eth1", "nodad", "noprefixroute"],
                     ["addr", "show", "dev", "eth1"]),
    "main-table route": ("-4", ["route", "add", "10.97.0.0/16", "via", "172.31.16.1", "dev",
                                "eth1"], ["route", "show", "10.97.0.0/16"]),
    "own-table route": ("-4", ["route", "add", "10.99.0.0/16", "via", "172.31.16.1", "dev",
                               "eth1", "table", "100"], ["route", "show", "table", "100"]),
    "route in the tool's tables": ("-4", ["route", "add", "10.96.0.0/16", "via", "172.31.16.1",
                                          "dev", "eth1", "table", "30401"],
                                   ["route", "show", "table", "30401", "10.96.0.0/16"]),
    "IPv6 main-table route": ("-6", ["route", "add", "2001:db8:97::/48", "via",
                                     "2600:1f18:aaaa:bb01::1", "dev", "eth1"],
                              ["route", "show", "2001:db8:97::/48"]),
    "IPv6 own-table route": ("-6", ["route", "add", "2001:db8:99::/48", "via",
                                    "2600:1f18:aaaa:bb01::1", "dev", "eth1", "table", "100"],
                             ["route", "show", "table", "100"]),
    "rule": ("-4", ["rule", "add", "priority", "100", "from", "10.98.0.0/16", "table", "100"],
             ["rule", "show", "priority", "100"]),
    "rule in the tool's priorities": ("-4", ["rule", "add", "priority", "30250", "from",
                                             "10.95.0.0/16", "table", "100"],
                                      ["rule", "show", "priority", "30250"]),
    "IPv6 rule": ("-6", ["rule", "add", "priority", "100", "from", "2001:db8:98::/48", "table",
                         "100"], ["rule", "show", "priority", "100"]),
}
NEEDLE = {"virtual IPv4": VIP4, "virtual IPv6": VIP6, "main-table route": "10.97.0.0/16",
          "own-table route": "10.99.0.0/16", "route in the tool's tables": "10.96.0.0/16",
          "IPv6 main-table route": "2001:db8:97::/48", "IPv6 own-table route": "2001:db8:99::/48",
          "rule": "10.98.0.0/16", "rule in the tool's priorities": "10.95.0.0/16",
          "IPv6 rule": "2001:db8:98::/48"}


def present(sandbox, name: str) -> bool:
    family, _, show = FOREIGN[name]
    out = run("ip", "-n", sandbox.host_ns, family, "-o", *show, check=False).stdout
    return NEEDLE[name] in out


def add_foreign(sandbox) -> List[str]:
    """Add what another program would; the names of what the kernel took (IPv6 ones
    need IPv6 on the NIC, routes a reachable gateway)."""
    added = []
    for name, (family, add, _) in FOREIGN.items():
        if run("ip", "-n", sandbox.host_ns, family, *add, check=False).returncode == 0:
            added.append(name)
    return added


def remove_foreign(sandbox) -> None:
    for family in ("-4", "-6"):
        for priority in ("100", "30250"):
            run("ip", "-n", sandbox.host_ns, family, "rule", "del", "priority", priority,
                check=False)
        for table in ("100", "30401"):
            run("ip", "-n", sandbox.host_ns, family, "route", "flush", "table", table,
                check=False)


class AddressWatch:
    """``ip monitor address`` in the VM during a run: when each virtual IP was deleted and
    when it was there again."""

    def __init__(self, sandbox) -> None:
        self.proc = subprocess.Popen(["ip", "-n", sandbox.host_ns, "-ts", "monitor", "address"],
                                     stdout=subprocess.PIPE, text=True)
        time.sleep(0.2)

    def gaps(self) -> Dict[str, List[float]]:
        """Virtual IP -> the milliseconds it was missing each time it went."""
        time.sleep(0.3)
        self.proc.terminate()
        out = self.proc.communicate()[0]
        gaps: Dict[str, List[float]] = {}
        gone: Dict[str, float] = {}
        for line in out.splitlines():
            for vip in (VIP4, VIP6):
                if vip in line:
                    stamp = _seconds(line)
                    if "Deleted" in line:
                        gone[vip] = stamp
                    elif vip in gone:
                        gaps.setdefault(vip, []).append((stamp - gone.pop(vip)) * 1000)
        for vip in gone:  # deleted and never back
            gaps.setdefault(vip, []).append(float("inf"))
        return gaps


def _seconds(line: str) -> float:
    """``[2026-12-07T01:02:03.123456]`` -> seconds."""
    stamp = line[1:line.index("]")].split("T")[1]
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@pytest.fixture(params=["auto", "manual", "dhcp", "ignore", "disabled"])
def vm(nm_sandbox_session, request):
    """The VM with profiles of one ``ipv6.method``, and another program's entries."""
    sandbox = nm_sandbox_session
    sandbox.reset_profiles(ipv6=request.param)
    sandbox.ipv6_method = request.param
    if request.param == "ignore":  # IPv6 is another program's: it turns it on
        run("ip", "netns", "exec", sandbox.host_ns, "sysctl", "-qw",
            "net.ipv6.conf.eth1.disable_ipv6=0")
    deadline = time.monotonic() + 15  # 1.52 may bring IPv4's lease after IPv6's
    while not sandbox.addresses("eth1") and time.monotonic() < deadline:
        time.sleep(0.1)
    yield sandbox
    remove_foreign(sandbox)


def test_another_programs_entries_survive_every_run(vm, emulator):
    link_local = vm.addresses6("eth1", "link")
    primary6 = [a.split("/")[0] for a in vm.addresses6("eth1")]
    added = add_foreign(vm)
    assert {"virtual IPv4", "main-table route", "route in the tool's tables", "rule",
            "rule in the tool's priorities"} <= set(added), added
    if vm.ipv6_method != "disabled":
        assert "virtual IPv6" in added, added
    set_scenario(emulator, scenarios.generate(2, 3, ipv6s=2))
    windows = []
    for step in ("first run", "an address added", "nothing changed"):
        if step == "an address added":
            scenario = scenarios.generate(2, 4, ipv6s=3)
            set_scenario(emulator, scenario)
        watch = AddressWatch(vm)
        result = run_tool(vm, emulator.url)
        gaps = watch.gaps()
        assert result.returncode == 0, result.stdout + result.stderr
        lost = [name for name in added if not present(vm, name)]
        assert not lost, f"{step}: {lost} gone ({vm.ipv6_method})\n{result.stdout}"
        assert all(g < 1000 for values in gaps.values() for g in values), (step, gaps)
        windows.append((step, gaps))
        if vm.ipv6_method not in ("ignore", "disabled"):
            assert vm.addresses6("eth1", "link") == link_local, step
            held = [a.split("/")[0] for a in vm.addresses6("eth1")]
            assert set(primary6) - {VIP6.split("/")[0]} <= set(held), (step, held)
    status = run_tool(vm, emulator.url, args=("status", "--json"))
    report = json.loads(status.stdout)
    shown = {d["interface"]: d["foreign"] for d in report["devices"]}
    assert f"address {VIP4}" in shown["eth1"], shown
    assert "route 10.96.0.0/16 via 172.31.16.1 table 30401 (in this tool's tables)" \
        in shown["eth1"], shown
    assert "rule priority 30250 from 10.95.0.0/16 table 100 (in this tool's subnet rules)" \
        in report["foreign_rules"], report["foreign_rules"]
    print(f"\n{vm.ipv6_method}: " + "; ".join(
        f"{step}: " + ", ".join(f"{vip} {max(ms):.1f} ms" for vip, ms in gaps.items())
        for step, gaps in windows if gaps))
