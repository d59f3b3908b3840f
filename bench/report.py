"""The benchmark's table and the issue's goals, from the rows ``run.py`` measured.

A row: scenario, implementation (ours, upstream, floor), run (first, no-change,
repair; import for the floor), latency_ms, and the medians wall_ms, cpu_ms, rss_mib,
requests, dbus_calls.  Pure: it prints what it is given.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Tuple

Key = Tuple[str, str, str, float]  # scenario, implementation, run, latency


def _index(rows: List[dict]) -> Dict[Key, dict]:
    return {(r["scenario"], r["implementation"], r["run"], r["latency_ms"]): r for r in rows}


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def floor_cpu(rows: List[dict], latency: Optional[float] = None) -> Optional[float]:
    """The import floor's CPU ms: the median over every scenario's rounds."""
    values = [r["cpu_ms"] for r in rows if r["implementation"] == "floor"
              and (latency is None or r["latency_ms"] == latency)]
    return statistics.median(values) if values else None


def table(rows: List[dict]) -> str:
    """One markdown line per (scenario, latency, run): ours, upstream, the ratios."""
    found = _index(rows)
    lines = ["| scenario | latency ms | run | ours wall / CPU ms | RSS MiB | requests | "
             "D-Bus | upstream wall / CPU ms | requests | ratio wall, CPU |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for (scenario, impl, run, latency), ours in found.items():
        if impl != "ours":
            continue
        other = found.get((scenario, "upstream", run, latency))
        upstream = (f"{other['wall_ms']:.0f} / {other['cpu_ms']:.0f}", f"{other['requests']:.0f}",
                    f"{_ratio(ours['wall_ms'], other['wall_ms'])}, "
                    f"{_ratio(ours['cpu_ms'], other['cpu_ms'])}") if other else ("", "", "")
        lines.append(f"| {scenario} | {latency:g} | {run} | {ours['wall_ms']:.0f} / "
                     f"{ours['cpu_ms']:.0f} | {ours['rss_mib']:.1f} | {ours['requests']:.0f} | "
                     f"{ours['dbus_calls']:.0f} | {' | '.join(upstream)} |")
    floor = floor_cpu(rows)
    if floor is not None:
        lines.append(f"\nImport floor (`{FLOOR_TEXT}`), CPU ms, median of every round: "
                     f"{floor:.0f}")
    return "\n".join(lines)


FLOOR_TEXT = "python -c 'import dbus_next, dbus_next.aio, http.client, logging, json'"


def goals(rows: List[dict]) -> str:
    """Each of the issue's goals, per latency: the measured value, and whether it holds."""
    found = _index(rows)
    latencies = sorted({r["latency_ms"] for r in rows})
    lines = []

    def check(name: str, value: Optional[float], limit: float, unit: str = "x") -> None:
        if value is None:
            return
        verdict = "holds" if value <= limit else "MISSED"
        lines.append(f"- {name}: {value:.2f}{unit} (goal <= {limit:g}{unit}): {verdict}")

    def get(scenario: str, impl: str, run: str, latency: float,
            metric: str) -> Optional[float]:
        row = found.get((scenario, impl, run, latency))
        return row[metric] if row else None

    def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
        return a / b if a is not None and b else None

    for latency in latencies:
        lines.append(f"At {latency:g} ms per request:")
        floor = floor_cpu(rows, latency)
        check("EC2 2x3 no-change CPU / the import floor",
              ratio(get("ec2-2x3", "ours", "no-change", latency, "cpu_ms"), floor), 1.2)
        for run, limit in (("first", 1.0), ("no-change", 1.5)):
            check(f"EC2 15x50 {run} wall / upstream's", ratio(
                get("ec2-15x50", "ours", run, latency, "wall_ms"),
                get("ec2-15x50", "upstream", run, latency, "wall_ms")), limit)
        for metric in ("wall_ms", "cpu_ms"):
            check(f"EC2 15x50 repair {metric[:-3]} / our first run's", ratio(
                get("ec2-15x50", "ours", "repair", latency, metric),
                get("ec2-15x50", "ours", "first", latency, metric)), 1.0)
        for scenario in ("ec2-15x50", "ec2-15x50+10v6"):
            row = found.get((scenario, "ours", "no-change", latency))
            upstream = found.get((scenario, "upstream", "no-change", latency))
            if row and upstream:
                budget = upstream["requests"] + row["nics"] + row["ipv6_nics"]
                check(f"{scenario} requests / upstream's + one per NIC + one per IPv6 NIC "
                      f"({budget:.0f})", row["requests"] / budget, 1.0)
        nm_cpu = get("ec2-15x50", "ours", "no-change", latency, "cpu_ms")
        check("netlink 15x50 no-change CPU / NetworkManager backend's no-change", ratio(
            get("netlink-15x50", "ours", "no-change", latency, "cpu_ms"), nm_cpu), 1.0)
        check("netlink 15x50 first CPU / NetworkManager backend's no-change", ratio(
            get("netlink-15x50", "ours", "first", latency, "cpu_ms"), nm_cpu), 2.0)
        for run in ("first", "no-change"):
            for metric in ("wall_ms", "cpu_ms"):
                check(f"IPv6 cost, 15x50 {run} {metric[:-3]}: dual-stack / IPv4-only", ratio(
                    get("ec2-15x50+10v6", "ours", run, latency, metric),
                    get("ec2-15x50", "ours", run, latency, metric)), 1.3)
    return "\n".join(lines)
