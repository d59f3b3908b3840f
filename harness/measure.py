"""Running a command with its wall time, CPU time and peak memory (``wait4``)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float
    max_rss_kib: int


def run_measured(args: Sequence[str], env: dict | None = None) -> Measured:
    """Run a command; its wall time, CPU time (user+sys) and peak RSS from wait4."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(proc.returncode, out.read(), err.read(), wall,
                        usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
