"""The HTTP layer against the emulator on loopback: limits, refusals and retries."""

from __future__ import annotations

import pytest

from nm_cloud_setup.errors import HttpError, MetadataError
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy


class FakeTime:
    """An injected clock and sleep: retries are checked without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def faults(emulator, *rules, latency=0.0):
    with emulator.state.lock:
        emulator.state.rules = list(rules)
        emulator.state.latency = latency


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def client(emulator, fake_time):
    http = HttpClient(emulator.url, timeout=(1.0, 1.0), sleep=fake_time.sleep,
                      clock=fake_time.clock)
    yield http
    http.close()


PATH = "/latest/meta-data/"


def test_plain_get(client):
    response = client.get(PATH)
    assert response.status == 200 and b"network/" in response.body
    assert client.requests_sent == 1


def test_proxies_in_the_environment_are_ignored(client, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("no_proxy", "")
    assert client.get(PATH).status == 200


def test_redirect_is_refused_not_followed(client, emulator):
    faults(emulator, {"match": PATH, "status": 302,
                      "headers": {"Location": "http://192.0.2.1/elsewhere"}})
    with pytest.raises(HttpError) as err:
        client.get(PATH)
    assert err.value.code == 302 and err.value.reason == "redirect"
    assert emulator.state.requests == 1  # not retried either


def test_404_is_not_retried(client, emulator):
    with pytest.raises(HttpError) as err:
        client.get("/no/such/path")
    assert err.value.code == 404 and client.requests_sent == 1


def test_body_over_the_cap(emulator, fake_time):
    faults(emulator, {"match": PATH, "status": 200, "body": "x" * 2000})
    small = HttpClient(emulator.url, max_body=1000, sleep=fake_time.sleep)
    with pytest.raises(HttpError, match="body too large"):
        small.get(PATH)


def test_body_over_the_cap_without_content_length(emulator, fake_time):
    faults(emulator, {"match": PATH, "status": 200, "body": "x" * 2000,
                      "headers": {"Transfer-Encoding": "chunked"}})
    small = HttpClient(emulator.url, max_body=1000, sleep=fake_time.sleep,
                       policy=RetryPolicy(attempts=1))
    with pytest.raises(HttpError):
        small.get(PATH)


def test_body_cut_short(client, emulator):
    faults(emulator, {"match": PATH, "status": 200, "body": "abc",
                      "headers": {"Content-Length": "100"}})
    with pytest.raises(HttpError, match="request failed|cannot connect"):
        client.get(PATH, policy=RetryPolicy(attempts=1))


def test_503_burst_is_retried_with_backoff(client, emulator, fake_time):
    faults(emulator, {"match": PATH, "status": 503, "times": 3})
    assert client.get(PATH).status == 200
    assert client.requests_sent == 4
    assert len(fake_time.sleeps) == 3
    assert fake_time.sleeps == sorted(fake_time.sleeps) or max(fake_time.sleeps) <= 2.0


def test_429_honours_retry_after(client, emulator, fake_time):
    faults(emulator, {"match": PATH, "status": 429, "times": 2, "headers": {"Retry-After": "3"}})
    assert client.get(PATH).status == 200
    assert fake_time.sleeps == [3.0, 3.0]


def test_retry_after_beyond_the_deadline_gives_up_at_once(client, emulator, fake_time):
    faults(emulator, {"match": PATH, "status": 429, "headers": {"Retry-After": "600"}})
    with pytest.raises(HttpError, match="retry deadline"):
        client.get(PATH)
    assert fake_time.sleeps == [] and client.requests_sent == 1


def test_persistent_500_ends_after_bounded_attempts(client, emulator, fake_time):
    faults(emulator, {"match": PATH, "status": 500})
    with pytest.raises(HttpError) as err:
        client.get(PATH)
    assert err.value.code == 500
    assert client.requests_sent <= RetryPolicy().attempts
    assert fake_time.now <= RetryPolicy().deadline


def test_slow_answer_times_out(emulator):
    faults(emulator, {"match": PATH, "status": 200, "delay": 1.0})
    quick = HttpClient(emulator.url, timeout=(0.5, 0.2), policy=RetryPolicy(attempts=1))
    with pytest.raises(HttpError, match="no answer within"):
        quick.get(PATH)


def test_nothing_listening(fake_time):
    client = HttpClient("http://127.0.0.1:9", sleep=fake_time.sleep, clock=fake_time.clock,
                        policy=RetryPolicy(attempts=3, deadline=5))
    with pytest.raises(HttpError, match="cannot connect"):
        client.get(PATH)
    assert client.requests_sent == 3


def test_binary_body_is_a_metadata_error(client, emulator):
    faults(emulator, {"match": PATH, "status": 200, "body": "\xff\xfe\x00garbage"})
    with pytest.raises(MetadataError, match="not UTF-8"):
        client.get(PATH).text(PATH)


def test_rate_limit_spaces_request_starts(emulator, fake_time):
    paced = HttpClient(emulator.url, sleep=fake_time.sleep, clock=fake_time.clock, rate=4.0)
    for _ in range(5):
        paced.get(PATH)
    assert fake_time.sleeps == [0.25] * 4


def test_time_budget_ends_all_requests(emulator, fake_time):
    faults(emulator, {"match": PATH, "status": 503})
    # attempts enough that the budget ends them, whatever the jitter of the waits
    client = HttpClient(emulator.url, sleep=fake_time.sleep, clock=fake_time.clock, budget=3.0,
                        policy=RetryPolicy(attempts=50))
    with pytest.raises(HttpError, match="budget of 3 s is used up"):
        client.get(PATH)
    assert fake_time.now < 3.0
    fake_time.now = 3.5
    with pytest.raises(HttpError, match="budget"):
        client.get("/other")


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int) -> bytes:
        return self.data[:size]


@pytest.mark.parametrize("length", ["²", "٣", "+3", "9" * 5000, " 3 "])
def test_a_content_length_that_is_no_ascii_number_is_not_trusted(length):
    """``str.isdigit`` takes "²" (``int`` refuses it) and other scripts' digits: a garbled
    header is no number, never a traceback."""
    from nm_cloud_setup.providers import http as http_client
    body = http_client._read_capped(_Body(b"abc"), {"content-length": length}, PATH, 100)
    assert body == b"abc"


@pytest.mark.parametrize("value, seconds", [("5", 5.0), ("²", None), ("٣", None),
                                            ("9" * 5000, None)])
def test_retry_after_is_ascii_seconds_or_a_date(value, seconds):
    from nm_cloud_setup.providers import http as http_client
    assert http_client._retry_after(value) == seconds
