"""A VM's share of the service (service/guard.py): open connections per VM and in all, and
the request budget (a burst, then a steady rate; 429 with Retry-After beyond)."""

from __future__ import annotations

import pytest

from nm_cloud_setup.service.guard import STRANGER, Guard, Limits

VMS = {"10.0.0.1": "a", "10.0.0.2": "a", "10.0.0.3": "b"}


def guard(**limits) -> Guard:
    return Guard(Limits(**limits), VMS.get)


def test_connections_are_capped_per_vm_and_in_all():
    g = guard(per_vm=2, connections=6)
    assert g.connect("10.0.0.1") == "a" and g.connect("10.0.0.2") == "a"  # one VM, two addresses
    assert g.connect("10.0.0.1") is None  # a's third
    assert g.connect("10.0.0.3") == "b"
    assert g.connect("192.0.2.1") == STRANGER and g.connect("192.0.2.2") == STRANGER
    assert g.connect("192.0.2.3") is None  # strangers share one cap
    g.disconnect("a")
    assert g.connect("10.0.0.1") == "a"
    assert g.connect("10.0.0.3") == "b"  # the sixth in all
    assert g.connect("10.0.0.1") is None  # over the cap in all (and a's)
    for key in ("a", "a", "b", "b", STRANGER, STRANGER):
        g.disconnect(key)
    assert g.total == 0 and g.open == {}


def test_the_request_budget_is_a_burst_then_a_rate():
    g = guard(rate=10.0, burst=5)
    assert [g.wait("a", now=100.0) for _ in range(5)] == [0.0] * 5
    wait = g.wait("a", now=100.0)
    assert wait == pytest.approx(0.1) and Guard.retry_after(wait) == "1"
    assert g.wait("b", now=100.0) == 0.0  # b has its own
    assert g.wait("a", now=100.15) == 0.0  # refilled at 10/s: 1.5
    assert g.wait("a", now=100.15) > 0
    assert [g.wait("a", now=200.0) for _ in range(5)] == [0.0] * 5  # full again, no more
    assert g.wait("a", now=200.0) > 0


def test_full_buckets_are_forgotten():
    g = guard(rate=10.0, burst=5)
    for n in range(1000):
        g.wait(f"vm{n}", now=0.0)
    g.wait("late", now=100.0)  # a minute on: the others are full again, and dropped
    assert set(g.buckets) == {"late"}


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="vm-rate|rate"):
        Limits(rate=0).check()
