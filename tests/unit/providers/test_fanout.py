"""Requests side by side: the bound on those in flight, and steps that depend on one
another starting as soon as their own previous step has ended."""

from __future__ import annotations

import threading
import time

import pytest

from nm_cloud_setup.errors import HttpError
from nm_cloud_setup.providers import fanout


class InFlight:
    """Fetches that take ``seconds`` and record the most running at once."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def fetch(self, value):
        def run():
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(self.seconds)
            with self.lock:
                self.now -= 1
            return value
        return run


def chain(meter: InFlight, number: int):
    """Three steps: two requests, then one that uses their answers, then none."""
    first = yield {"a": meter.fetch(number), "b": meter.fetch(number * 10)}
    second = yield {"sum": meter.fetch(first["a"] + first["b"])}
    third = yield {}
    return (second["sum"], third)


@pytest.mark.parametrize("limit", [1, 3, 8, 64])
def test_steps_get_their_answers_and_the_bound_holds(limit):
    meter = InFlight()
    results = fanout.run_steps({n: (lambda n=n: chain(meter, n)) for n in range(6)}, limit)
    assert results == {n: (n * 11, {}) for n in range(6)}
    assert meter.most <= limit


def test_wall_time_follows_the_chain_not_the_count():
    meter = InFlight(0.05)
    started = time.monotonic()
    fanout.run_steps({n: (lambda n=n: chain(meter, n)) for n in range(10)}, 32)
    assert time.monotonic() - started < 0.05 * 6  # two steps of 50 ms, not 30 requests


def test_an_error_is_the_result_of_its_fetch():
    def failing():
        raise HttpError("http://x/k", "HTTP 404 Not Found", 404)

    def steps():
        got = yield {"k": failing, "ok": lambda: "v"}
        return got

    result = fanout.run_steps({"nic": steps}, 4)["nic"]
    assert isinstance(result["k"], HttpError) and result["k"].code == 404
    assert result["ok"] == "v"


def test_fetch_all_bound():
    meter = InFlight()
    assert fanout.fetch_all({n: meter.fetch(n) for n in range(10)}, 3) == {
        n: n for n in range(10)}
    assert meter.most <= 3


def meeting(parties: int):
    """A fetch that returns only once ``parties`` of them run at once (else it fails)."""
    barrier = threading.Barrier(parties, timeout=5)
    return lambda: barrier.wait() >= 0


def test_two_requests_under_a_bound_of_two_go_at_once():
    fetch = meeting(2)
    assert fanout.fetch_all({"a": fetch, "b": fetch}, 2) == {"a": True, "b": True}

    def steps():
        got = yield {"a": fetch, "b": fetch}
        return got

    assert fanout.run_steps({"nic": steps}, 2) == {"nic": {"a": True, "b": True}}
