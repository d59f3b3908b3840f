"""Benchmarks: wall time, CPU time, peak memory, metadata requests and D-Bus calls.

It makes network namespaces: ``./scripts/bench`` (as root, or it re-runs itself
through sudo), or as root ``.venv/bin/python bench/run.py [--repeat N] [--latency MS]
[--json FILE]``.
Each scenario runs against a real NetworkManager (or the kernel, for the netlink
one) in a throwaway namespace and the metadata emulator: a first run (from DHCP
primaries only) and a no-change run, ``--repeat`` times each; the table shows
medians.  With ``NCS_BENCH_OTHER="COMMAND ..."`` (e.g. an upstream build), that
command runs alternately with ours in the same setup, and the ratios are printed.
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
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.sandbox import Sandbox, nics_for_scenario, run_measured  # noqa: E402
from nm_cloud_setup.emulator import scenario as scenarios  # noqa: E402
from nm_cloud_setup.emulator.server import EmulatorServer  # noqa: E402


@dataclass
class Scenario:
    name: str
    provider: str
    nics: int
    make: Callable[[], dict]
    netlink: bool = False
    ipv6: str = "disabled"  # the profiles' ipv6.method (manual: the IPv6 primary static)


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
    Scenario("azure-8x30", "azure", 8, lambda: azure_scenario(8, 30)),
    Scenario("gcp-8", "gcp", 8, lambda: gcp_scenario(8)),
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


def bench_scenario(spec: Scenario, repeat: int, latency: float,
                   others: Dict[str, List[str]]) -> List[dict]:
    commands = {"ours": [sys.executable, "-m", "nm_cloud_setup"], **others}
    samples: Dict[tuple, List[dict]] = {}
    with Sandbox(nics_for_scenario(spec.nics, ipv6=spec.ipv6 != "disabled"),
                 with_nm=not spec.netlink, nm_log_level="WARN") as sandbox:
        if spec.netlink:
            with sandbox.entered():
                server = EmulatorServer(("127.0.0.1", 0), spec.make(), spec.provider)
        else:
            server = EmulatorServer(("127.0.0.1", 0), spec.make(), spec.provider)
        server.start()
        server.state.latency = latency
        key = spec.provider.upper()
        env = sandbox.env(**{f"NM_CLOUD_SETUP_{key}": "yes",
                             f"NM_CLOUD_SETUP_{key}_HOST": server.url,
                             "NM_CLOUD_SETUP_STATE_DIR": str(sandbox.workdir / "state"),
                             "NM_CLOUD_SETUP_MAP_INTERFACES": ";".join(
                                 f"{n.ifname}={n.mac}" for n in sandbox.nics)})
        try:
            for _ in range(repeat):
                for name, command in commands.items():  # alternately, in the same setup
                    if spec.netlink:
                        sandbox.reset_kernel()
                        for path in (sandbox.workdir / "state").glob("*"):
                            path.unlink()
                    else:
                        sandbox.reset_profiles(ipv6=spec.ipv6)
                    for kind in ("first", "no-change"):
                        sample = one_run(sandbox, server, command, env, spec.netlink)
                        samples.setdefault((name, kind), []).append(sample)
        finally:
            server.shutdown()
            server.server_close()
    rows = []
    for (name, kind), items in samples.items():
        row = {"scenario": spec.name, "implementation": name, "run": kind, "repeat": repeat}
        for metric in items[0]:
            row[metric] = statistics.median(item[metric] for item in items)
        rows.append(row)
    return rows


def table(rows: List[dict]) -> str:
    head = f"{'scenario':<16}{'impl':<7}{'run':<10}{'wall ms':>9}{'CPU ms':>8}{'RSS MiB':>9}" \
           f"{'requests':>10}{'D-Bus':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['scenario']:<16}{r['implementation']:<7}{r['run']:<10}"
                     f"{r['wall_ms']:>9.0f}{r['cpu_ms']:>8.0f}{r['rss_mib']:>9.1f}"
                     f"{r['requests']:>10.0f}{r['dbus_calls']:>7.0f}")
    return "\n".join(lines)


def ratios(rows: List[dict]) -> str:
    ours = {(r["scenario"], r["run"]): r for r in rows if r["implementation"] == "ours"}
    lines = []
    for r in rows:
        if r["implementation"] == "ours":
            continue
        base = ours[(r["scenario"], r["run"])]
        parts = [f"{m} {base[m] / r[m]:.2f}x" for m in ("wall_ms", "cpu_ms", "rss_mib",
                                                           "requests") if r[m]]
        lines.append(f"ours / {r['implementation']}, {r['scenario']} {r['run']}: "
                     + ", ".join(parts))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="emulator latency per request, in milliseconds")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS],
                        help="only these scenarios (repeatable)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmarks make network namespaces")
    others = {}
    if os.environ.get("NCS_BENCH_OTHER"):
        others["other"] = shlex.split(os.environ["NCS_BENCH_OTHER"])
    rows = []
    for spec in SCENARIOS:
        if args.scenario and spec.name not in args.scenario:
            continue
        rows += bench_scenario(spec, args.repeat, args.latency / 1000, others)
        print(f"done: {spec.name}", file=sys.stderr)
    print(table(rows))
    if others:
        print(ratios(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
