"""The kernel state of a sandbox VM (both address families), read with ``ip -j``."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from typing import Optional


def run(*args: str, check: bool = True, env: dict | None = None,
        timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; raise with its stderr on failure."""
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


_KERNEL_MAKES: dict = {}


def kernel_can_make(kind: str) -> bool:
    """Whether this kernel can make a link of ``kind`` (``vlan``: 802.1Q, on a veth, the
    sandboxes' own link type; ``bond``), tried in a namespace of its own, so no sandbox's
    NetworkManager ever sees the probe.

    Tests decide from this, before the run, whether such a link must come up or fail."""
    if kind not in _KERNEL_MAKES:
        ns = f"ncs-probe-{kind}-{os.getpid()}"
        run("ip", "netns", "add", ns)
        try:
            if kind == "vlan":
                run("ip", "-n", ns, "link", "add", "probe0", "type", "veth", "peer", "name",
                    "probe1")
                args = ["link", "probe0", "name", "probe0.9", "type", "vlan", "id", "9"]
            else:
                args = ["name", "probe2", "type", kind]
            made = run("ip", "-n", ns, "link", "add", *args, check=False)
            _KERNEL_MAKES[kind] = made.returncode == 0
        finally:
            run("ip", "netns", "del", ns, check=False)
    return _KERNEL_MAKES[kind]


def kernel_has_vlan() -> bool:
    return kernel_can_make("vlan")


class VmState:
    """Reading (and resetting) the VM namespace ``host_ns``'s addresses, rules and routes."""

    host_ns: str
    settle_quiet = 0.15

    def flush_policy_routing(self) -> None:
        """Remove policy rules and numbered tables, both families (NetworkManager leaves
        tables behind)."""
        for family in ("-4", "-6"):
            for rule in self.ip_json(family, "rule", "show"):
                if 1 <= rule.get("priority", 0) < 32766:
                    run("ip", "-n", self.host_ns, family, "rule", "del", "priority",
                        str(rule["priority"]), check=False)
            tables = {route.get("table") for route in self.ip_json(family, "route", "show",
                                                                     "table", "all")}
            for table in tables:
                if isinstance(table, str) and table.isdigit() \
                        and int(table) not in (253, 254, 255):
                    run("ip", "-n", self.host_ns, family, "route", "flush", "table", table,
                        check=False)

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

    def addresses6(self, ifname: str, scope: str = "global") -> list[str]:
        """The IPv6 addresses of ``scope`` (global, link) on a NIC, sorted, as ADDR/PREFIX."""
        found = []
        for link in self.ip_json("-6", "addr", "show", "dev", ifname, "scope", scope):
            for info in link.get("addr_info", []):
                if "local" in info:  # ip -j lists filtered-out entries as {}
                    found.append((ipaddress.ip_address(info["local"]), info["prefixlen"]))
        return [f"{a}/{p}" for a, p in sorted(found)]

    def mtu(self, ifname: str) -> int:
        return self.ip_json("link", "show", ifname)[0]["mtu"]

    def has_link(self, ifname: str) -> bool:
        return run("ip", "-n", self.host_ns, "link", "show", ifname, check=False).returncode == 0

    def settle(self, quiet: Optional[float] = None, limit: float = 3.0) -> None:
        """Wait until the VM's addresses, rules and routes (both families) stop changing
        for ``quiet`` seconds (at most ``limit``).

        NetworkManager answers Reapply once it has accepted the settings and commits
        them to the kernel an instant later (1.52 on a DHCP profile: about 150 ms
        later, so its sandbox waits longer); read the kernel after this.
        """
        quiet = self.settle_quiet if quiet is None else quiet
        deadline = time.monotonic() + limit
        last = None
        while time.monotonic() < deadline:
            now = (self.ip_json("addr"), self.rules(), self.routes(), self.rules6(),
                   self.routes6())
            if now == last:
                return
            last = now
            time.sleep(quiet)

    def rules(self) -> list[dict]:
        return self.ip_json("-4", "rule", "show")

    def routes(self) -> list[dict]:
        return self.ip_json("-4", "route", "show", "table", "all")

    def rules6(self) -> list[dict]:
        return self.ip_json("-6", "rule", "show")

    def routes6(self) -> list[dict]:
        return self.ip_json("-6", "route", "show", "table", "all")
