"""Watching a sandbox's kernel during a run: every address and rule change, in order.

``KernelWatch`` runs ``ip monitor address rule`` in the VM's namespace.  It knows
the monitor listens once a marker address it adds on ``lo`` shows up, snapshots
the state then, and on exit waits for the marker's removal (so every earlier
event has arrived).  It replays the events one by one, checking after each that
no address sits on two NICs at once and that no rule sends an address to one
NIC's tables while another NIC holds it.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple

from harness.sandbox import Sandbox, run

# "[2026-...] Deleted 3: eth2    inet 172.31.16.12/20 brd ... eth2"
_ADDRESS = re.compile(r"^(?:\[[^\]]*\]\s*)?(?P<deleted>Deleted )?\d+: (?P<dev>\S+)\s+"
                      r"inet6? (?P<address>[0-9a-fA-F.:]+)/\d+")
# "[2026-...] Deleted 30200:	from 172.31.16.12 lookup 30200 proto static"
_RULE = re.compile(r"^(?:\[[^\]]*\]\s*)?(?P<deleted>Deleted )?(?P<priority>\d+):\s+"
                   r"from (?P<src>\S+) lookup (?P<table>\S+)")

TABLES = ((30200, 30300), (30400, 30500))  # per-NIC tables: 30200+IDX, 30400+IDX
MARKER = "127.0.0.254"  # added to lo and removed again to bracket the watch


@dataclass
class Timeline:
    """Addresses per NIC and (priority, from, table) rules, as the events replay."""

    addresses: Dict[str, Set[str]] = field(default_factory=dict)
    rules: Set[Tuple[int, str, str]] = field(default_factory=set)
    violations: List[str] = field(default_factory=list)
    events: int = 0

    def check(self, table_owner: Callable[[int], Optional[str]], after: str) -> None:
        seen: Dict[str, str] = {}
        for dev, held in sorted(self.addresses.items()):
            for address in held:
                if address in seen:
                    self.violations.append(f"{address} on {seen[address]} and {dev} after "
                                           f"{after!r}")
                seen.setdefault(address, dev)
        for _, src, table in sorted(self.rules):
            owner = table_owner(int(table)) if table.isdigit() else None
            holder = seen.get(src.split("/")[0])
            if owner is not None and holder is not None and owner != holder:
                self.violations.append(f"a rule sends {src} to table {table} of {owner} while "
                                       f"{holder} holds it, after {after!r}")

    def replay(self, line: str) -> bool:
        match = _ADDRESS.match(line)
        if match and not match["address"].lower().startswith("fe80:") and match["dev"] != "lo":
            held = self.addresses.setdefault(match["dev"], set())
            (held.discard if match["deleted"] else held.add)(match["address"])
            return True
        match = _RULE.match(line)
        if match:
            rule = (int(match["priority"]), match["src"].split("/")[0], match["table"])
            (self.rules.discard if match["deleted"] else self.rules.add)(rule)
            return True
        return False


class KernelWatch:
    """``with KernelWatch(sandbox, owners) as watch: ...`` then ``watch.timeline``.

    ``owners`` maps a table index (the metadata's) to the NIC whose tables they are.
    """

    def __init__(self, sandbox: Sandbox, owners: Dict[int, str], timeout: float = 10) -> None:
        self.sandbox = sandbox
        self.owners = owners
        self.timeout = timeout
        self.timeline = Timeline()
        self.lines: List[str] = []
        self._proc: Optional[subprocess.Popen] = None
        self._queue: "queue.Queue[Optional[str]]" = queue.Queue()

    def table_owner(self, table: int) -> Optional[str]:
        for low, high in TABLES:
            if low <= table < high:
                return self.owners.get(table - low)
        return None

    def __enter__(self) -> "KernelWatch":
        # stdbuf: ip writes to a pipe in blocks otherwise, and the markers must show at once.
        self._proc = subprocess.Popen(["stdbuf", "-oL", "ip", "-n", self.sandbox.host_ns, "-ts",
                                       "monitor", "address", "rule"], stdout=subprocess.PIPE,
                                      text=True)
        threading.Thread(target=self._read, daemon=True).start()
        run("ip", "-n", self.sandbox.host_ns, "addr", "del", f"{MARKER}/32", "dev", "lo",
            check=False)  # left over by an earlier watch that failed
        try:
            self._marker("add", "Deleted", False)
        except BaseException:
            self._proc.terminate()
            raise
        for link in self.sandbox.ip_json("addr"):
            if link["ifname"] != "lo":
                self.timeline.addresses[link["ifname"]] = {
                    info["local"] for info in link.get("addr_info", [])
                    if info.get("scope") != "link"}
        for family in ("-4", "-6"):
            for rule in self.sandbox.ip_json(family, "rule", "show"):
                if "src" in rule and str(rule.get("table", "")).isdigit():
                    self.timeline.rules.add((rule.get("priority", 0), rule["src"],
                                             rule["table"]))
        self.timeline.check(self.table_owner, "the start")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for line in self._marker("del", "Deleted", True):
                if self.timeline.replay(line):
                    self.timeline.events += 1
                    self.timeline.check(self.table_owner, line)
        finally:
            assert self._proc is not None
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def _marker(self, command: str, prefix: str, deleted: bool) -> List[str]:
        """Add or delete the marker; the event lines up to the marker's own."""
        lines: List[str] = []
        for _ in range(3):  # a marker event lost (never seen so far) is made again
            run("ip", "-n", self.sandbox.host_ns, "addr", command, f"{MARKER}/32", "dev", "lo",
                check=False)
            deadline = time.monotonic() + self.timeout / 3
            while True:
                try:
                    line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if line is None:
                    raise AssertionError("the kernel monitor stopped")
                if f"inet {MARKER}/32" in line:
                    if line.split("] ")[-1].startswith(prefix) == deleted:
                        return lines
                    continue
                if not line[:1].isspace():  # an address event's second line (lifetimes)
                    lines.append(line)
                    self.lines.append(line)
            if command == "add":  # make it anew
                run("ip", "-n", self.sandbox.host_ns, "addr", "del", f"{MARKER}/32", "dev", "lo",
                    check=False)
        alive = self._proc is not None and self._proc.poll() is None
        raise AssertionError(f"the kernel monitor fell silent (running: {alive}; seen: "
                             f"{lines[-5:]})")

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)
