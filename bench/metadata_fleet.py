"""The fleet benchmark of the metadata service: 10,000 registered VMs, 1,000 crawling their
EC2 tree at once while the API writes.

Run as root: ``sudo .venv/bin/python bench/metadata_fleet.py [--vms 10000]
[--crawlers 1000] [--rounds 3] [--postgres | --db postgresql://...] [--json FILE]
[-- SERVICE OPTIONS]``.  In a throwaway network namespace (the VMs' source addresses
on ``lo``), the service as shipped (``nm-cloud-metadata-service`` with its defaults:
access log on, to a file; the per-VM caps and budget) listens on 169.254.169.254:80.

1. The cost of a write at 10 VMs: 200 PUTs one after another (latency, and the
   service's CPU time per PUT).
2. The rest of the fleet is registered through the API (4 clients at once).
3. The same 200 PUTs at 10,000 VMs.
4. ``--rounds`` times: ``--crawlers`` VMs (a different set each round) crawl their whole
   tree at once as cloud-init does on first boot (``bench/metadata_service.py``'s
   crawler: one connection per request, every answer checked against the VM that
   asked), while one API client writes to other VMs, one PUT after another.

Reported: the crawl's requests, p50/p99 latency, errors (any answer that is not 200,
not the asking VM's, or no answer), requests per second; the writes during the crawl
and their p50/p99; the service's RSS after registering and at its peak, and its CPU
per request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metadata_service import ADDRESS, add_sources, cpu_seconds, rss_kib, vm_body  # noqa: E402

from harness.lab import api_request  # noqa: E402
from harness.postgres import Postgres  # noqa: E402
from harness.sandbox import run  # noqa: E402

CRAWLER = Path(__file__).resolve().parent / "metadata_service.py"


def percentile(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


def write_cost(api: str, pid: int, name: str, n: int, count: int = 200) -> Dict[str, float]:
    """``count`` PUTs of one VM, one after another: latency and the service's CPU."""
    times = []
    cpu = cpu_seconds(pid)
    for k in range(count):
        body = vm_body(n)
        body["user_data"] = f"#cloud-config\n# write {k}\n"
        started = time.perf_counter()
        status, reply = api_request(api, "PUT", f"/v1/vms/{name}", body)
        times.append(time.perf_counter() - started)
        assert status == 200, reply
    return {"p50_ms": 1000 * statistics.median(times),
            "p99_ms": 1000 * percentile(times, 0.99),
            "cpu_ms": 1000 * (cpu_seconds(pid) - cpu) / count}


class Writer(threading.Thread):
    """One API client writing to VMs that are not crawling, one PUT after another."""

    def __init__(self, api: str, targets: List[int]) -> None:
        super().__init__(daemon=True)
        self.api, self.targets = api, targets
        self.stop = threading.Event()
        self.times: List[float] = []
        self.errors = 0

    def run(self) -> None:
        k = 0
        while not self.stop.is_set():
            n = self.targets[k % len(self.targets)]
            body = vm_body(n)
            body["user_data"] = f"#cloud-config\n# round write {k}\n"
            started = time.perf_counter()
            status, _ = api_request(self.api, "PUT", f"/v1/vms/vm{n}", body)
            self.times.append(time.perf_counter() - started)
            self.errors += status != 200
            k += 1


def crawl(ns: str, vms: List[int]) -> dict:
    """The crawl of ``vms`` at once, from a process inside the namespace."""
    out = run("ip", "netns", "exec", ns, sys.executable, str(CRAWLER), "--crawl-list",
              ",".join(map(str, vms)), timeout=1200).stdout
    return json.loads(out)


def bench(vms: int, crawlers: int, rounds: int, db: Optional[str], extra: List[str]) -> dict:
    ns = f"ncs-fleet-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="ncs-fleet-"))
    api = f"unix:{work}/api.sock"
    run("ip", "netns", "add", ns)
    proc = None
    try:
        add_sources(ns, work, vms)
        log = open(work / "service.log", "w")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                                 "nm_cloud_setup.service", "--db", db or str(work / "vms.db"),
                                 "--listen", f"{ADDRESS}:80", "--api", api, *extra],
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if api_request(api, "GET", "/v1/health")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)

        def register(n: int) -> None:
            status, reply = api_request(api, "PUT", f"/v1/vms/vm{n}", vm_body(n))
            assert status == 201, reply

        for n in range(10):
            register(n)
        small = write_cost(api, proc.pid, "vm0", 0)
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(register, range(10, vms)))
        registering = time.perf_counter() - started
        large = write_cost(api, proc.pid, "vm0", 0)
        idle = rss_kib(proc.pid)["VmRSS"]
        step = max(1, vms // crawlers)
        samples, writes = [], []
        cpu = cpu_seconds(proc.pid)
        for r in range(rounds):
            crawling = [(r + k * step) % vms for k in range(crawlers)]
            others = sorted(set(range(vms)) - set(crawling))[:500]
            writer = Writer(api, others)
            writer.start()
            samples.append(crawl(ns, crawling))
            writer.stop.set()
            writer.join()
            writes.append(writer)
        cpu = cpu_seconds(proc.pid) - cpu
        memory = rss_kib(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        run("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", str(work)])
    write_times = [t for w in writes for t in w.times]
    requests = sum(s["requests"] for s in samples)
    return {
        "vms": vms, "crawlers": crawlers, "rounds": rounds, "db": "postgresql" if db else "sqlite",
        "register_s": registering,
        "write_at_10": small, "write_at_all": large,
        "requests_per_round": samples[0]["requests"],
        "p50_ms": statistics.median(s["p50_ms"] for s in samples),
        "p99_ms": statistics.median(s["p99_ms"] for s in samples),
        "rps": statistics.median(s["rps"] for s in samples),
        "round_s": statistics.median(s["wall_s"] for s in samples),
        "errors": sum(s["errors"] for s in samples),
        "error_examples": [e for s in samples for e in s["error_examples"]][:3],
        "writes_during": len(write_times),
        "write_errors": sum(w.errors for w in writes),
        "write_p50_ms": 1000 * statistics.median(write_times) if write_times else 0.0,
        "write_p99_ms": 1000 * percentile(write_times, 0.99),
        "cpu_us_per_request": 1e6 * cpu / max(1, requests),
        "rss_idle_mib": idle / 1024, "rss_peak_mib": memory["VmHWM"] / 1024,
    }


def report(r: dict) -> str:
    return "\n".join([
        f"{r['vms']} VMs ({r['db']}), registered through the API in {r['register_s']:.1f} s",
        f"a PUT at 10 VMs:      p50 {r['write_at_10']['p50_ms']:.2f} ms, p99 "
        f"{r['write_at_10']['p99_ms']:.2f} ms, service CPU {r['write_at_10']['cpu_ms']:.2f} ms",
        f"a PUT at {r['vms']} VMs: p50 {r['write_at_all']['p50_ms']:.2f} ms, p99 "
        f"{r['write_at_all']['p99_ms']:.2f} ms, service CPU {r['write_at_all']['cpu_ms']:.2f} ms",
        f"{r['crawlers']} VMs crawling at once, {r['rounds']} rounds (medians): "
        f"{r['requests_per_round']} requests a round in {r['round_s']:.1f} s, "
        f"{r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
        f"errors {r['errors']}",
        f"writes meanwhile: {r['writes_during']} (errors {r['write_errors']}), "
        f"p50 {r['write_p50_ms']:.1f} ms, p99 {r['write_p99_ms']:.1f} ms",
        f"service: CPU {r['cpu_us_per_request']:.0f} us/request, RSS {r['rss_idle_mib']:.0f} MiB "
        f"after registering, peak {r['rss_peak_mib']:.0f} MiB",
    ])


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=10_000)
    parser.add_argument("--crawlers", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="postgresql://... (default: SQLite in a temporary dir)")
    parser.add_argument("--postgres", action="store_true",
                        help="a throwaway PostgreSQL cluster of its own (harness/postgres.py)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("service", nargs="*", help="more options for the service (after --)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark makes a network namespace")
    if args.postgres:
        with Postgres() as pg:
            result = bench(args.vms, args.crawlers, args.rounds, pg.create_database("fleet"),
                           args.service)
    else:
        result = bench(args.vms, args.crawlers, args.rounds, args.db, args.service)
    print(report(result))
    for example in result["error_examples"]:
        print(f"error: {example}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
