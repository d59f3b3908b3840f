"""Benchmarks: wall time, CPU time, peak memory, metadata requests and D-Bus calls.

It makes network namespaces: ``./scripts/bench`` (as root, or it re-runs itself
through sudo), or as root ``.venv/bin/python bench/run.py [--repeat N] [--latency MS,...]
[--json FILE]``.
Each scenario runs against a real NetworkManager (or the kernel, for the netlink
one) in a throwaway namespace and the metadata emulator, at each latency: a first
run (from DHCP primaries only, an empty state directory), a no-change run, and (on
NetworkManager) a repair run after another client reapplied every NIC's profile,
``--repeat`` times each; the table shows medians.  Upstream's binary
(``../shared/reference/nm-cloud-setup-upstream`` next to the repository, or
``NCS_BENCH_OTHER="COMMAND ..."``) runs alternately with ours in the same setup, and
so does the import floor (the imports this design cannot do without, in the same
interpreter); the ratios and the issue's goals are printed after the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.sandbox import Sandbox, nics_for_scenario, run_measured  # noqa: E402
from nm_cloud_setup.emulator import scenario as scenarios  # noqa: E402
from nm_cloud_setup.emulator.server import EmulatorServer  # noqa: E402

from bench import report  # noqa: E402 # isort: skip

UPSTREAM = ROOT.parent / "shared" / "reference" / "nm-cloud-setup-upstream"
FLOOR = "import dbus_next, dbus_next.aio, http.client, logging, json"


@dataclass
class Scenario:
    name: str
    provider: str
    nics: int
    make: Callable[[], dict]
    netlink: bool = False
    ipv6: str = "disabled"  # the profiles' ipv6.method (manual: the IPv6 primary static)
    default: bool = True  # one of the rows (run when no --scenario is given)


def gcp_scenario(nics: int) -> dict:
    scenario = scenarios.generate(nics, 1)
    for number, iface in enumerate(scenario["interfaces"]):
        iface["forwarded_ips"] = [f"35.{number}.0.{k}" for k in range(1, 4)]
        iface["alias_ranges"] = [f"10.{100 + number}.{k}.0/24" for k in range(2)]
    return scenario


def azure_scenario(nics: int, ips: int) -> dict:
    scenario = scenarios.generate(nics, ips)
    scenario["azure"] = {"rate": 5}
    return scenario


SCENARIOS = [
    Scenario("ec2-2x3", "ec2", 2, lambda: scenarios.generate(2, 3)),
    Scenario("ec2-15x50", "ec2", 15, lambda: scenarios.generate(15, 50)),
    Scenario("ec2-15x50+10v6", "ec2", 15, lambda: scenarios.generate(15, 50, ipv6s=10),
             ipv6="manual"),
    Scenario("azure-8x30", "azure", 8, lambda: azure_scenario(8, 30), default=False),
    Scenario("gcp-8", "gcp", 8, lambda: gcp_scenario(8), default=False),
    Scenario("netlink-15x50", "ec2", 15, lambda: scenarios.generate(15, 50), netlink=True),
]


class DBusCounter:
    """Counts method calls to NetworkManager on the sandbox bus (dbus-monitor --profile)."""

    def __init__(self, bus_address: str, workdir: Path) -> None:
        self.path = workdir / "dbus-monitor.out"
        self.out = self.path.open("w")
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "dbus-monitor", "--address", bus_address, "--profile",
             "type='method_call',destination='org.freedesktop.NetworkManager'"],
            stdout=self.out, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def stop(self) -> int:
        size = -1
        while size != self.path.stat().st_size:  # until it has printed all it saw
            size = self.path.stat().st_size
            time.sleep(0.2)
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self.out.close()
        return sum(1 for line in self.path.read_text().splitlines()
                   if line.startswith("mc") and "org.freedesktop.NetworkManager" in line)


def one_run(sandbox: Sandbox, server: EmulatorServer, command: List[str], env: dict,
            netlink: bool) -> Dict[str, float]:
    with server.state.lock:
        server.state.requests = 0
    counter = None if netlink else DBusCounter(sandbox.bus_address, sandbox.workdir)
    if netlink:
        command = sandbox.exec_in_host(*command)
    result = run_measured(command, env)
    calls = counter.stop() if counter else 0
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n"
                         f"{result.stdout}\n{result.stderr}")
    return {"wall_ms": result.wall * 1000, "cpu_ms": result.cpu * 1000,
            "rss_mib": result.max_rss_kib / 1024, "requests": server.state.requests,
            "dbus_calls": calls}


def floor_run() -> Dict[str, float]:
    result = run_measured([sys.executable, "-c", FLOOR])
    return {"wall_ms": result.wall * 1000, "cpu_ms": result.cpu * 1000,
            "rss_mib": result.max_rss_kib / 1024, "requests": 0, "dbus_calls": 0}


def _start_over(sandbox: Sandbox, spec: Scenario) -> None:
    """DHCP primaries only, an empty state directory: as after a boot."""
    if spec.netlink:
        sandbox.reset_kernel()
    else:
        sandbox.reset_profiles(ipv6=spec.ipv6)
    for path in (sandbox.workdir / "state").glob("*"):
        path.unlink()


def _reapply_all(sandbox: Sandbox) -> None:
    """Another client reapplies every NIC's profile: what the tool added is forgotten."""
    for nic in sandbox.nics:
        sandbox.nmcli("device", "reapply", nic.ifname)


def bench_scenario(spec: Scenario, repeat: int, latencies: Sequence[float],
                   others: Dict[str, List[str]]) -> List[dict]:
    commands = {"ours": [sys.executable, "-m", "nm_cloud_setup"],
                **({} if spec.netlink else others)}
    kinds = ("first", "no-change") if spec.netlink else ("first", "no-change", "repair")
    samples: Dict[tuple, List[dict]] = {}
    with Sandbox(nics_for_scenario(spec.nics, ipv6=spec.ipv6 != "disabled"),
                 with_nm=not spec.netlink, nm_log_level="WARN") as sandbox:
        if spec.netlink:
            with sandbox.entered():
                server = EmulatorServer(("127.0.0.1", 0), spec.make(), spec.provider)
        else:
            server = EmulatorServer(("127.0.0.1", 0), spec.make(), spec.provider)
        server.start()
        key = spec.provider.upper()
        env = sandbox.env(**{f"NM_CLOUD_SETUP_{key}": "yes",
                             f"NM_CLOUD_SETUP_{key}_HOST": server.url,
                             "NM_CLOUD_SETUP_STATE_DIR": str(sandbox.workdir / "state"),
                             "NM_CLOUD_SETUP_MAP_INTERFACES": ";".join(
                                 f"{n.ifname}={n.mac}" for n in sandbox.nics)})
        try:
            for latency in latencies:
                server.state.latency = latency / 1000
                for _ in range(repeat):
                    samples.setdefault(("floor", "import", latency), []).append(floor_run())
                    for name, command in commands.items():  # alternately, in the same setup
                        _start_over(sandbox, spec)
                        for kind in kinds:
                            if kind == "repair":
                                _reapply_all(sandbox)
                            sample = one_run(sandbox, server, command, env, spec.netlink)
                            samples.setdefault((name, kind, latency), []).append(sample)
        finally:
            server.shutdown()
            server.server_close()
    rows = []
    for (name, kind, latency), items in samples.items():
        row = {"scenario": spec.name, "implementation": name, "run": kind,
               "latency_ms": latency, "repeat": len(items), "nics": spec.nics,
               "ipv6_nics": spec.nics if spec.ipv6 != "disabled" else 0}
        for metric in items[0]:
            row[metric] = statistics.median(item[metric] for item in items)
        rows.append(row)
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--latency", default="0,10,50",
                        help="emulator latencies per request, in milliseconds (comma-separated)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--no-upstream", action="store_true", help="ours alone")
    parser.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS],
                        help="only these scenarios (repeatable; default: the issue's rows)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmarks make network namespaces")
    latencies = [float(value) for value in args.latency.split(",")]
    # As installed (a Debian package is byte-compiled at install): without this, and with
    # PYTHONDONTWRITEBYTECODE set, every run compiles the package's sources (~50 ms CPU).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "nm_cloud_setup")],
                   check=True)
    others = {}
    if args.no_upstream:
        pass
    elif os.environ.get("NCS_BENCH_OTHER"):
        others["upstream"] = shlex.split(os.environ["NCS_BENCH_OTHER"])
    elif UPSTREAM.exists():
        others["upstream"] = [str(UPSTREAM)]
    rows = []
    for spec in SCENARIOS:
        if (spec.name not in args.scenario) if args.scenario else not spec.default:
            continue
        started = time.monotonic()
        rows += bench_scenario(spec, args.repeat, latencies, others)
        print(f"done: {spec.name} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    print(report.table(rows))
    print()
    print(report.goals(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
