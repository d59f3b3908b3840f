"""The HTTP client's retries, exactly (providers/http.py), against the emulator on loopback
with an injected clock and the jitter fixed: each wait, what ends the retries (the
attempts, the deadline, the time budget, an answer not worth another try) and the words
and fields of the error then.  test_http.py has the limits and refusals."""

from __future__ import annotations

import dataclasses
import logging
import random

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import HttpError
from nm_cloud_setup.providers import http
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from nm_cloud_setup.shapes import ec2 as shapes
from tests.unit.providers.test_http import PATH, FakeTime, faults

# waits of 0.25, 0.5, 1, 2 s: sums exact in binary floating point
POLICY = RetryPolicy(attempts=5, deadline=100.0, base_wait=0.25, max_wait=2.0)


@pytest.fixture
def no_jitter(monkeypatch):
    """``random.random`` at 1.0: each wait is the policy's full one."""
    monkeypatch.setattr(random, "random", lambda: 1.0)


@pytest.fixture
def clock():
    return FakeTime()


def client_of(emulator, clock, policy=POLICY, budget=None) -> HttpClient:
    return HttpClient(emulator.url, sleep=clock.sleep, clock=clock.clock, policy=policy,
                      budget=budget)


def url(emulator) -> str:
    return emulator.url + PATH


@pytest.mark.parametrize("attempt, jitter, seconds", [
    (1, 0.0, 0.1), (1, 1.0, 0.2), (2, 1.0, 0.4), (3, 0.5, 0.6), (4, 0.0, 0.8),
    (5, 1.0, 2.0), (9, 0.0, 1.0),
])
def test_the_wait_doubles_from_base_to_max_with_up_to_half_taken_off(attempt, jitter, seconds):
    err = HttpError("u", "HTTP 500", 500)
    assert RetryPolicy().wait(err, attempt, jitter) == pytest.approx(seconds)
    assert RetryPolicy().wait(HttpError("u", "HTTP 429", 429, 7.0), attempt, jitter) == 7.0


def test_the_attempts_end_the_retries_with_the_last_answer(emulator, clock, no_jitter, caplog):
    faults(emulator, {"match": PATH, "status": 500})
    client = client_of(emulator, clock)
    with caplog.at_level(logging.DEBUG, logger=http.LOG.name):
        with pytest.raises(HttpError) as caught:
            client.get(PATH)
    assert (caught.value.code, caught.value.url) == (500, url(emulator))
    assert str(caught.value) == f"{url(emulator)}: HTTP 500 Internal Server Error"
    assert client.requests_sent == 5 and clock.sleeps == [0.25, 0.5, 1.0, 2.0]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG] == [
        f"request {url(emulator)}: HTTP 500 Internal Server Error; retrying in {s:.2f} s"
        for s in (0.25, 0.5, 1.0, 2.0)]


def test_an_answer_not_worth_a_retry_ends_them(emulator, clock, no_jitter):
    faults(emulator, {"match": PATH, "status": 500, "times": 1},
           {"match": PATH, "status": 404})
    client = client_of(emulator, clock)
    with pytest.raises(HttpError) as caught:
        client.get(PATH)
    assert caught.value.code == 404 and client.requests_sent == 2


def test_the_retried_request_is_the_same(make_emulator, clock, no_jitter):
    """Its headers too: a server that requires a session token answers 401 without it."""
    scenario = scenarios.generate(1, 1)
    scenario["ec2"] = {"tokens": "required"}
    emulator = make_emulator("ec2", scenario)
    client = client_of(emulator, clock)
    token = client.request("PUT", shapes.TOKEN_PATH, {shapes.TTL_HEADER: "60"}).text()
    faults(emulator, {"match": PATH, "status": 503, "times": 1})
    response = client.get(PATH, {shapes.TOKEN_HEADER: token},
                          RetryPolicy(attempts=2, base_wait=0.5))
    assert response.status == 200 and clock.sleeps == [0.5]
    assert emulator.state.paths[PATH] == 2


DEADLINE = RetryPolicy(attempts=5, deadline=1.74, base_wait=0.25, max_wait=1.0)


@pytest.mark.parametrize("policy, budget, sent, status, words", [
    # the deadline counts from the request's start to the start of its last attempt
    (dataclasses.replace(DEADLINE, deadline=1.75), None, 4, 500, None),
    (DEADLINE, None, 3, 500, "gave up after 3 attempts: the retry deadline of 1.74 s was "
                             "reached"),
    # the budget ends a retry that would reach it
    (POLICY, 1.76, 4, 503, None),
    (POLICY, 1.75, 3, 503, "gave up: the metadata time budget of 1.75 s is used up"),
])
def test_the_deadline_and_the_budget_at_their_bounds(emulator, clock, no_jitter, policy,
                                                     budget, sent, status, words):
    faults(emulator, {"match": PATH, "status": status})
    client = client_of(emulator, clock, policy, budget)
    if budget is None:
        clock.now = 50.0  # the deadline is from the request's start, not the clock's zero
    with pytest.raises(HttpError) as caught:
        client.get(PATH)
    assert client.requests_sent == sent
    if words is not None:
        reason = {500: "HTTP 500 Internal Server Error", 503: "HTTP 503 Service Unavailable"}
        assert str(caught.value) == f"{url(emulator)}: {reason[status]} ({words})"
        assert (caught.value.url, caught.value.code, caught.value.transient) == (
            url(emulator), status, False)


def test_close_closes_this_threads_connection(emulator, clock):
    client = client_of(emulator, clock)
    client.get(PATH)
    conn = client._local.conn
    assert conn.sock is not None
    client.close()
    assert conn.sock is None and client._local.conn is None
    client.close()  # nothing open: nothing to do
    assert client.get(PATH).status == 200  # a new connection
