"""The seeded soak, long or short: hours of cloud churn and faults, nothing lost.

As root (it makes network namespaces and starts NetworkManager in one):

    .venv/bin/python bench/soak.py --backend nm --seed 7 --steps 200
    .venv/bin/python bench/soak.py --backend both --steps 250 --chunks 20 \\
        --lock /tmp/ncs-e2e.lock --json soak.json

Each chunk is a fresh VM and its own seed (``--seed`` plus the chunk number), so
a long soak can run in chunks, taking ``--lock`` for each one only.  A violation
prints the seed and step, and the command that replays it; the exit status is 1
when there was any.  See harness/soak/driver.py for what a step does.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.soak.driver import soak  # noqa: E402


@contextlib.contextmanager
def locked(path):
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> int:
    # SIGTERM ends the soak like Ctrl-C: its sandbox is taken down on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["nm", "netlink", "both"], default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200, help="steps per chunk")
    parser.add_argument("--chunks", type=int, default=1)
    parser.add_argument("--lock", help="a file to flock around each chunk")
    parser.add_argument("--keep-going", action="store_true", help="go on after a violation")
    parser.add_argument("--verbose", action="store_true", help="a line per step")
    parser.add_argument("--json", help="write the totals (and each chunk's) to this file")
    args = parser.parse_args()
    backends = ["nm", "netlink"] if args.backend == "both" else [args.backend]
    totals = {b: {"steps": 0, "runs": 0, "faults": 0, "checks": 0, "events": 0,
                  "violations": 0, "slowest": 0.0, "chunks": []} for b in backends}
    started = time.monotonic()
    for chunk in range(args.chunks):
        for backend in backends:
            seed = args.seed + chunk
            with locked(args.lock):
                summary = soak(backend, seed, args.steps, keep_going=args.keep_going,
                               verbose=args.verbose)
            print(summary.line(), flush=True)
            total = totals[backend]
            for key in ("steps", "runs", "faults", "checks", "events"):
                total[key] += getattr(summary, key)
            total["violations"] += len(summary.violations)
            total["slowest"] = max(total["slowest"], summary.slowest[0])
            total["chunks"].append({"seed": seed, "line": summary.line(),
                                    "violations": summary.violations, "modes": summary.modes})
            if args.json:
                Path(args.json).write_text(json.dumps(totals, indent=1))
    for backend, total in totals.items():
        print(f"total {backend}: {total['steps']} steps, {total['runs']} runs, "
              f"{total['faults']} faults injected, {total['checks']} invariant checks "
              f"({total['events']} kernel events watched), {total['violations']} violations, "
              f"slowest run {total['slowest']:.2f} s")
    print(f"wall time {time.monotonic() - started:.0f} s")
    return 1 if any(t["violations"] for t in totals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
