"""Benchmark of the metadata service: many VMs crawling their whole EC2 tree at once.

Run as root: ``sudo .venv/bin/python bench/metadata_service.py [--vms 200] [--rounds 3]
[--server stdlib|aiohttp ...] [--json FILE]``.  In a throwaway network namespace,
``--vms`` addresses on ``lo`` are the VMs' sources; the service listens on
169.254.169.254:80 with that many VMs in its database (registered through the API).
Each round, every VM crawls its tree at once as cloud-init does on first boot: the
version probe, user-data, then every entry that ``meta-data/`` lists, recursively,
and the identity document; one new connection per request, as cloud-init makes.
Every answer is checked against the VM that asked (a wrong VM's data is an error).
Reported: requests per second, p50/p99 latency, errors, the service's CPU time per
request and its RSS.

``--server`` picks the HTTP server under the same handlers: ``aiohttp`` is the
service as shipped; ``stdlib`` is the standard library's ``http.server``
(``bench/stdlib_server.py``), the baseline the choice was made against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, Iterable, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.lab import api_request  # noqa: E402
from harness.sandbox import run  # noqa: E402

ADDRESS = "169.254.169.254"
VERSION = "2021-03-23"
STDLIB_SERVER = Path(__file__).resolve().parent / "stdlib_server.py"


def source(n: int) -> str:
    return f"10.200.{n // 250}.{n % 250 + 1}"


def vm_body(n: int) -> dict:
    return {"hostname": f"vm{n}", "user_data": "#cloud-config\nruncmd: [true]\n" * 4,
            "ssh_keys": [f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA{n:08d} vm{n}"],
            "instance_id": f"i-{n:017x}",
            "interfaces": [
                {"mac": f"02:00:00:01:{n >> 8:02x}:{n & 255:02x}", "device_number": 0,
                 "subnet": "10.200.0.0/16",
                 "addresses": [source(n), f"10.200.{200 + n // 250}.{n % 250 + 1}"]},
                {"mac": f"02:00:00:02:{n >> 8:02x}:{n & 255:02x}", "device_number": 1,
                 "subnet": "10.202.0.0/16", "addresses": [f"10.202.{n // 250}.{n % 250 + 1}"]}]}


# -- the crawler (runs inside the namespace) ---------------------------------------------

class Crawler:
    def __init__(self) -> None:
        self.latencies: List[float] = []
        self.errors: List[str] = []

    async def get(self, src: str, path: str) -> Optional[str]:
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(ADDRESS, 80, local_addr=(src, 0))
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {ADDRESS}\r\nConnection: close\r\n"
                         "User-Agent: bench\r\n\r\n".encode())
            data = await reader.read(-1)
            writer.close()
        except OSError as err:
            self.errors.append(f"{src} {path}: {err}")
            return None
        self.latencies.append(time.perf_counter() - started)
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            self.errors.append(f"{src} {path}: {head[:40]!r}")
            return None
        return body.decode()

    async def walk(self, src: str, base: str) -> Dict[str, object]:
        listing = await self.get(src, base)
        tree: Dict[str, object] = {}
        for line in (listing or "").splitlines():
            if line.endswith("/"):
                tree[line[:-1]] = await self.walk(src, base + line)
            else:
                index, _, name = line.partition("=")
                tree[name or line] = await self.get(src, base + (f"{index}/openssh-key"
                                                                   if name else line))
        return tree

    async def crawl(self, n: int) -> None:
        src = source(n)
        probe = await self.get(src, f"/{VERSION}/meta-data/instance-id")
        await self.get(src, f"/{VERSION}/user-data")
        tree = await self.walk(src, f"/{VERSION}/meta-data/")
        await self.walk(src, f"/{VERSION}/dynamic/instance-identity/")
        if probe != f"i-{n:017x}" or tree.get("hostname") != f"vm{n}":
            self.errors.append(f"{src}: another VM's data ({probe})")


async def crawl_all(vms: Iterable[int]) -> dict:
    """Every VM of ``vms`` (numbers) crawls at once."""
    crawler = Crawler()
    started = time.perf_counter()
    await asyncio.gather(*(crawler.crawl(n) for n in vms))
    wall = time.perf_counter() - started
    lat = sorted(crawler.latencies)
    return {"requests": len(lat) + len(crawler.errors), "wall_s": wall,
            "rps": len(lat) / wall, "p50_ms": 1000 * lat[len(lat) // 2],
            "p99_ms": 1000 * lat[int(len(lat) * 0.99)], "errors": len(crawler.errors),
            "error_examples": crawler.errors[:3]}


# -- the driver ----------------------------------------------------------------------------

def rss_kib(pid: int) -> Dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def add_sources(ns: str, work: Path, vms: int) -> None:
    """The metadata address and ``vms`` VMs' source addresses on ``ns``'s loopback (one
    ``ip -batch``), loopback up."""
    batch = [f"addr add {source(n)}/32 dev lo" for n in range(vms)]
    batch += [f"addr add {ADDRESS}/32 dev lo", "link set lo up"]
    (work / "batch").write_text("\n".join(batch) + "\n")
    run("ip", "-n", ns, "-batch", str(work / "batch"))


def bench_server(server: str, vms: int, rounds: int) -> dict:
    ns = f"ncs-bench-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="ncs-bench-"))
    api = f"unix:{work}/api.sock"
    run("ip", "netns", "add", ns)
    proc = None
    try:
        add_sources(ns, work, vms)
        command = ([sys.executable, "-m", "nm_cloud_setup.service", "--log-level", "WARNING"]
                   if server == "aiohttp" else [sys.executable, str(STDLIB_SERVER)])
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *command, "--db", str(work / "db"),
                                 "--listen", f"{ADDRESS}:80", "--api", api])
        deadline = time.monotonic() + 20
        while True:
            try:
                if api_request(api, "GET", "/v1/health")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for n in range(vms):
            status, reply = api_request(api, "PUT", f"/v1/vms/vm{n}", vm_body(n))
            assert status == 201, reply
        idle = rss_kib(proc.pid)["VmRSS"]
        samples = []
        cpu = cpu_seconds(proc.pid)
        for _ in range(rounds):
            out = run("ip", "netns", "exec", ns, sys.executable, __file__, "--crawl", str(vms),
                      timeout=600).stdout
            samples.append(json.loads(out))
        memory = rss_kib(proc.pid)
        cpu = cpu_seconds(proc.pid) - cpu
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        run("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", str(work)])
    return {"server": server, "vms": vms, "rounds": rounds,
            "requests_per_round": samples[0]["requests"],
            "rps": statistics.median(s["rps"] for s in samples),
            "p50_ms": statistics.median(s["p50_ms"] for s in samples),
            "p99_ms": statistics.median(s["p99_ms"] for s in samples),
            "wall_s": statistics.median(s["wall_s"] for s in samples),
            "errors": sum(s["errors"] for s in samples),
            "error_examples": [e for s in samples for e in s["error_examples"]][:3],
            "cpu_us_per_request": 1e6 * cpu / sum(s["requests"] for s in samples),
            "rss_idle_mib": idle / 1024, "rss_peak_mib": memory["VmHWM"] / 1024}


def table(rows: List[dict]) -> str:
    head = (f"{'server':<9}{'VMs':>5}{'req/round':>10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'round s':>8}{'CPU us/req':>11}{'errors':>7}{'RSS idle':>9}{'RSS peak':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['server']:<9}{r['vms']:>5}{r['requests_per_round']:>10}"
                     f"{r['rps']:>8.0f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
                     f"{r['wall_s']:>8.2f}{r['cpu_us_per_request']:>11.0f}{r['errors']:>7}{r['rss_idle_mib']:>8.1f}M"
                     f"{r['rss_peak_mib']:>8.1f}M")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", action="append", choices=["stdlib", "aiohttp"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--crawl", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--crawl-list", help=argparse.SUPPRESS)  # bench/metadata_fleet.py
    args = parser.parse_args(argv)
    if args.crawl or args.crawl_list:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a connection per VM
        vms = range(args.crawl) if args.crawl else map(int, args.crawl_list.split(","))
        print(json.dumps(asyncio.run(crawl_all(vms))))
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark makes a network namespace")
    rows = [bench_server(server, args.vms, args.rounds)
            for server in args.server or ["aiohttp", "stdlib"]]
    print(table(rows))
    for row in rows:
        for example in row["error_examples"]:
            print(f"{row['server']}: {example}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
