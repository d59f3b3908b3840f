"""What one VM may take of the metadata service, so that no VM can starve the others.

Per VM (every address of it together; every source that is no VM's together, as
one "stranger"): a cap on open connections, and a token bucket of requests (a burst,
refilled at a steady rate; beyond it, 429 with ``Retry-After``).  In all: a cap on
open connections.  The HTTP server (``httpd``) applies the connection caps and the
deadlines, the metadata handler the bucket.  Memory is bounded: one counter and one
bucket per VM that has an open connection or a bucket not yet full.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

STRANGER = ""  # the key of every source that is no VM's


@dataclass(frozen=True)
class Limits:
    connections: int = 4096  # open metadata connections in all
    per_vm: int = 32  # open connections of one VM (of all strangers together)
    rate: float = 50.0  # requests per second a VM may sustain
    burst: int = 200  # requests a VM may make at once
    header_timeout: float = 10.0  # from a request's first byte to the end of its headers
    idle_timeout: float = 30.0  # a connection with no request under way
    max_body: int = 1024  # bytes a metadata request may carry; more: 413, unread
    max_head: int = 16 << 10  # bytes a client may send before a request's headers end

    def check(self) -> "Limits":
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"{name.replace('_', '-')} must be positive")
        return self


class Bucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class Guard:
    def __init__(self, limits: Limits, identify: Callable[[str], Optional[str]]) -> None:
        self.limits = limits
        self.identify = identify  # source address -> the VM's name, or None
        self.open: Dict[str, int] = {}
        self.total = 0
        self.buckets: Dict[str, Bucket] = {}
        self._pruned: Optional[float] = None  # when full buckets were last dropped

    def key(self, source: str) -> str:
        return self.identify(source) or STRANGER

    # -- connections ---------------------------------------------------------------

    def connect(self, source: str) -> Optional[str]:
        """Count a new connection from ``source``; its key, or None when over a cap
        (then the connection is refused, and nothing is counted)."""
        key = self.key(source)
        if self.total >= self.limits.connections or \
                self.open.get(key, 0) >= self.limits.per_vm:
            return None
        self.open[key] = self.open.get(key, 0) + 1
        self.total += 1
        return key

    def disconnect(self, key: str) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)
        self.total -= 1

    # -- requests ------------------------------------------------------------------

    def wait(self, key: str, now: Optional[float] = None) -> float:
        """0 when ``key`` may make a request now (and it is counted), else the seconds
        until it may."""
        now = time.monotonic() if now is None else now
        limits = self.limits
        if self._pruned is None:
            self._pruned = now
        elif now - self._pruned > 60:
            self._prune(now)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(float(limits.burst), now)
        else:
            bucket.tokens = min(float(limits.burst),
                                bucket.tokens + (now - bucket.stamp) * limits.rate)
            bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / limits.rate

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))

    def _prune(self, now: float) -> None:
        """Forget the buckets that have filled up again (they hold nothing)."""
        self._pruned = now
        full: List[str] = [key for key, bucket in self.buckets.items()
                           if bucket.tokens + (now - bucket.stamp) * self.limits.rate
                           >= self.limits.burst]
        for key in full:
            del self.buckets[key]
