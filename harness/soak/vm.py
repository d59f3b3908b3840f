"""The soak's VM for one backend: a sandbox with the four NIC slots, the emulator, the
administrator's own entries, and the means to run the tool, plug NICs, restart
NetworkManager, and read the kernel (and NetworkManager) back as model values.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from harness.sandbox import Sandbox, run
from harness.soak.world import SLOTS, World, sandbox_nics
from nm_cloud_setup.emulator.server import EmulatorServer
from nm_cloud_setup.model import Address, Ipv4Config, Route, Rule

RULES = (30200, 30500)  # the priorities and tables the tool's rules use
# The administrator's own entries, placed at the start, that every run must leave alone.
# The addresses are virtual IPs as keepalived adds them (a NetworkManager Reapply drops
# them for an instant; the tool puts them back).
ADMIN_KERNEL = [
    ("addr", "add", "192.168.77.1/32", "dev", "eth1"),
    ("-6", "addr", "add", "fd00:77::1/128", "dev", "eth1", "nodad", "noprefixroute"),
    ("rule", "add", "priority", "30200", "from", "10.99.0.1", "table", "30200"),
    ("rule", "add", "priority", "100", "fwmark", "0x10", "table", "30400"),
    ("route", "add", "10.98.0.0/16", "via", "172.31.16.1", "dev", "eth1", "table", "30400",
     "proto", "static"),
]
ADMIN_ADDRESSES = {"eth1": {Address("192.168.77.1", 32), Address("fd00:77::1", 128)}}
ADMIN_RULES = {Rule(30200, 30200, "10.99.0.1", 32)}
ADMIN_ROUTES = {"eth1": {Route("10.98.0.0", 16, next_hop="172.31.16.1", table=30400)}}
# NetworkManager only: the profile of eth2 carries a route and a rule of the admin's.
ADMIN_PROFILE = ("+ipv4.routes", "10.96.0.0/16 172.31.16.1 100 table=30401",
                 "+ipv4.routing-rules", "priority 30201 from 10.95.0.1 table 30201")
# The same two as model values: every run must keep them in the profile and the kernel.
ADMIN_PROFILE_ROUTES = {"eth2": (Route("10.96.0.0", 16, next_hop="172.31.16.1", metric=100,
                                       table=30401),)}
ADMIN_PROFILE_RULES = {"eth2": (Rule(30201, 30201, "10.95.0.1", 32),)}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    wall: float


@dataclass
class Seen:
    """The kernel as model values: per NIC its addresses (DHCP primaries and the
    admin's left out), routes in the per-NIC tables, and the rules of those tables;
    ``shared``: the other rules in the tool's range (the 30350 one)."""

    nics: Dict[str, Ipv4Config]
    shared: Set[Rule]
    admin_missing: List[str]
    table_rules: Set[Rule]  # the per-NIC tables' rules, whichever NIC (plugged or not)


class Vm:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.sandbox = Sandbox(sandbox_nics(), with_nm=backend == "nm", nm_log_level="WARN")
        self.emulator: Optional[EmulatorServer] = None

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> "Vm":
        self.sandbox.__enter__()
        try:
            self._start(World.start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self, world: World) -> None:
        sandbox = self.sandbox
        if self.backend == "nm":
            # IPv6 active, as NetworkManager makes ethernet profiles: every Reapply bounces
            # it, and on 1.42 drops the IPv4 addresses it did not add.
            sandbox.reset_profiles(ipv6="auto")
            sandbox.nmcli("connection", "modify", "eth2", *ADMIN_PROFILE)
            sandbox.nmcli("--wait", "20", "connection", "up", "eth2")
        else:
            sandbox.assign_primaries()
        for slot in SLOTS:
            if slot.hot and SLOTS.index(slot) not in world.plugged:
                self.unplug(SLOTS.index(slot))
        for command in ADMIN_KERNEL:
            run("ip", "-n", sandbox.host_ns, *command)
        # The metadata service and the tool both in the VM, as on a cloud: the tool reads
        # the VM's kernel too (the netlink backend, and the NetworkManager one after a
        # NetworkManager restart).
        with sandbox.entered():
            self.emulator = EmulatorServer(("127.0.0.1", 0), world.scenario())
        self.emulator.start()

    def __exit__(self, *exc: object) -> None:
        if self.emulator is not None:
            self.emulator.shutdown()
            self.emulator.server_close()
        self.sandbox.__exit__()

    # -- the cloud -------------------------------------------------------------------

    def serve(self, scenario: dict, rules: Optional[list] = None, latency: float = 0.0) -> None:
        assert self.emulator is not None
        with self.emulator.state.lock:
            self.emulator.state.scenario = scenario
            self.emulator.state.rules = list(rules or [])
            self.emulator.state.latency = latency

    # -- running the tool --------------------------------------------------------------

    def start_tool(self) -> Tuple[subprocess.Popen, float]:
        assert self.emulator is not None
        settings = {"NM_CLOUD_SETUP_EC2": "yes", "NM_CLOUD_SETUP_EC2_HOST": self.emulator.url,
                    "NM_CLOUD_SETUP_LOG": "DEBUG", "NM_CLOUD_SETUP_BACKEND": self.backend,
                    "NM_CLOUD_SETUP_STATE_DIR": str(self.sandbox.workdir / "state")}
        command = self.sandbox.exec_in_host(sys.executable, "-m", "nm_cloud_setup")
        proc = subprocess.Popen(command, env=self.sandbox.env(**settings), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return proc, time.monotonic()

    def finish(self, proc: subprocess.Popen, started: float, timeout: float = 120) -> Result:
        out, err = proc.communicate(timeout=timeout)
        return Result(proc.returncode, out, err, time.monotonic() - started)

    def settle(self) -> None:
        if self.backend == "nm":
            self.sandbox.settle()

    # -- the VM's hardware and daemons ---------------------------------------------------

    def unplug(self, slot: int) -> None:
        if self.sandbox.has_link(SLOTS[slot].ifname):
            run("ip", "-n", self.sandbox.host_ns, "link", "del", SLOTS[slot].ifname)

    def plug(self, slot: int) -> None:
        ifname = SLOTS[slot].ifname
        if self.sandbox.has_link(ifname):
            return
        self.sandbox.readd_nic(ifname)
        if self.backend == "nm":
            self.wait_connected([ifname])
            return
        ns = self.sandbox.host_ns
        run("ip", "-n", ns, "link", "set", ifname, "up")
        run("ip", "-n", ns, "addr", "add", f"{SLOTS[slot].primary}/20", "dev", ifname)

    def wait_connected(self, ifnames: List[str], limit: float = 20) -> None:
        """Until NetworkManager has activated the NICs' profiles (again)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            out = self.sandbox.nmcli("-t", "-f", "DEVICE,STATE", "device", check=False).stdout
            states = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
            waiting = [n for n in ifnames if states.get(n) != "connected"]
            if not waiting:
                return
            for ifname in waiting:
                if states.get(ifname) == "disconnected":
                    self.sandbox.nmcli("connection", "up", ifname, check=False)
            time.sleep(0.2)
        raise RuntimeError(f"NetworkManager did not connect {', '.join(ifnames)}")

    def restart_nm(self, plugged: List[int]) -> None:
        self.sandbox.stop_nm()
        self.sandbox.start_nm()
        self.wait_connected([SLOTS[n].ifname for n in plugged])

    # -- reading back ------------------------------------------------------------------

    def profiles(self) -> Dict[str, str]:
        keyfiles = Path(self.sandbox.workdir) / "nm" / "keyfiles"
        if not keyfiles.exists():
            return {}
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in keyfiles.iterdir()}

    def seen(self, plugged: List[int]) -> Seen:
        sandbox = self.sandbox
        nics = {SLOTS[n].ifname: Ipv4Config() for n in plugged}
        primaries = {slot.primary for slot in SLOTS}
        addresses: Dict[str, Set[Address]] = {name: set() for name in nics}
        for link in sandbox.ip_json("addr"):
            for info in link.get("addr_info", []):
                if link["ifname"] in addresses and info.get("scope") == "global" \
                        and info["local"] not in primaries:
                    addresses[link["ifname"]].add(Address(info["local"], info["prefixlen"]))
        routes: Dict[str, Set[Route]] = {name: set() for name in nics}
        for family in ("-4", "-6"):
            for entry in sandbox.ip_json(family, "route", "show", "table", "all"):
                route = _route(entry)
                if route is not None and entry.get("dev") in routes:
                    routes[entry["dev"]].add(route)
        rules, shared = _rules(sandbox)
        missing = self._admin_missing(addresses, routes, rules | shared)
        for name in nics:
            mine = {r for r in rules if _table_slot(r.table) == int(name[3:]) - 1}
            nics[name] = Ipv4Config(
                tuple(sorted(addresses[name] - ADMIN_ADDRESSES.get(name, set()), key=str)),
                tuple(sorted(routes[name] - ADMIN_ROUTES.get(name, set()), key=str)),
                tuple(sorted(mine - ADMIN_RULES, key=str)))
        return Seen(nics, shared - ADMIN_RULES, missing, rules - ADMIN_RULES)

    def _admin_missing(self, addresses, routes, rules) -> List[str]:
        missing = [f"{a} on {n}" for n, items in ADMIN_ADDRESSES.items()
                   for a in items if a not in addresses.get(n, ())]
        missing += [f"route {r} on {n}" for n, items in ADMIN_ROUTES.items()
                    for r in items if r not in routes.get(n, ())]
        missing += [f"rule {r}" for r in ADMIN_RULES if r not in rules]
        fwmark = [r for r in self.sandbox.rules() if r.get("fwmark") == "0x10"]
        return missing + ([] if fwmark else ["rule priority 100 fwmark 0x10 table 30400"])

    def applied(self) -> Dict[str, Ipv4Config]:
        """NetworkManager: ifname -> the entries of its applied connection (both families)
        as model values, read with busctl (harness/nm_applied.py), not the tool's client."""
        from harness.nm_applied import applied

        result = {}
        for name, connection in applied(self.sandbox).items():
            four, six = _model_entries(connection.ipv4, 4), _model_entries(connection.ipv6, 6)
            result[name] = Ipv4Config(*(mine + theirs for mine, theirs in zip(four, six)))
        return result


ROUTE_KEYS = {"dest", "prefix", "next-hop", "metric", "table", "type"}
RULE_KEYS = {"priority", "table", "from", "from-len", "suppress-prefixlength", "family"}


def _model_entries(section, family: int) -> Tuple[tuple, tuple, tuple]:
    """(addresses, routes, rules) of one family's section of an applied connection
    (``nm_applied.Family``) as model values; route and rule attributes the model has no
    field for go to ``extra``."""
    def known(entry) -> dict:
        return {key: value for key, _sig, value in entry}

    def extra(entry, keys) -> tuple:
        return tuple(item for item in entry if item[0] not in keys)

    routes = [Route(v["dest"], v["prefix"], next_hop=v.get("next-hop"), metric=v.get("metric"),
                    table=v.get("table"), type=v.get("type"), extra=extra(e, ROUTE_KEYS))
              for e in section.routes for v in [known(e)]]
    rules = [Rule(v.get("priority", 0), v.get("table", 0), v.get("from"), v.get("from-len", 0),
                  suppress_prefixlength=v.get("suppress-prefixlength"),
                  extra=extra(e, RULE_KEYS), family=family)
             for e in section.rules for v in [known(e)]]
    addresses = [Address(address, int(prefix))
                 for address, prefix in (text.split("/") for text in section.addresses)]
    return tuple(addresses), tuple(routes), tuple(rules)


def _table_slot(table: int) -> Optional[int]:
    for low in (30200, 30400):
        if low <= table < low + 100:
            return table - low
    return None


def _route(entry: dict) -> Optional[Route]:
    table = str(entry.get("table", "main"))
    if not table.isdigit() or _table_slot(int(table)) is None:
        return None
    dst = entry["dst"]
    if dst == "default":
        dst = "::/0" if ":" in entry.get("gateway", "") else "0.0.0.0/0"
    net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/{32 if '.' in dst else 128}")
    return Route(str(net.network_address), net.prefixlen, next_hop=entry.get("gateway"),
                 metric=entry.get("metric"), table=int(table))


def _rules(sandbox: Sandbox) -> Tuple[Set[Rule], Set[Rule]]:
    """(rules of per-NIC tables, other rules) with priorities in the tool's range."""
    per_nic, shared = set(), set()
    for family, full in (("-4", 32), ("-6", 128)):
        for entry in sandbox.ip_json(family, "rule", "show"):
            if not RULES[0] <= entry.get("priority", 0) < RULES[1]:
                continue
            table = {"main": 254, "local": 255, "default": 253}.get(entry.get("table"))
            table = table or int(entry.get("table", 0))
            src = entry.get("src", "all")
            rule = Rule(entry["priority"], table, None if src == "all" else src,
                        0 if src == "all" else entry.get("srclen", full),
                        suppress_prefixlength=entry.get("suppress_prefixlen"))
            (per_nic if _table_slot(table) is not None else shared).add(rule)
    return per_nic, shared
