"""The service's log lines (service/logs.py): the journal's priority prefixes, a client's
misbehaviour rate-limited, aiohttp's lines without tracebacks, clients' text escaped."""

from __future__ import annotations

import io
import logging

import pytest

from nm_cloud_setup.service import logs


def test_the_throttle_lets_one_line_through_per_interval_and_counts_the_rest():
    throttle = logs.Throttle(interval=10)
    assert throttle.passes(("vm1", "rate"), now=0) == 0
    assert [throttle.passes(("vm1", "rate"), now=t) for t in (1, 2, 3)] == [None] * 3
    assert throttle.passes(("vm2", "rate"), now=3) == 0  # per VM
    assert throttle.passes(("vm1", "rate"), now=10.5) == 3  # the next says how many it left out


def test_the_throttle_stays_bounded():
    throttle = logs.Throttle(interval=10, limit=100)
    passed = [throttle.passes((f"source{n}", "x"), now=1) for n in range(1000)]
    assert passed.count(0) == 100 and len(throttle.seen) == 100
    assert throttle.passes(("late", "x"), now=20) == 0 and len(throttle.seen) == 1


@pytest.fixture
def captured():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


@pytest.mark.parametrize("journal,prefix", [(True, "<4>"), (False, "nm-cloud-metadata: ")])
def test_lines_carry_the_journals_priority(captured, journal, prefix):
    logs.setup("INFO", journal=journal, stream=captured)
    logging.getLogger("nm_cloud_setup.service").warning("one\nline")
    logging.getLogger("nm_cloud_setup.service.audit").log(25, "audit: x")
    lines = captured.getvalue().splitlines()
    assert lines[0] == f"{prefix}one line"
    assert lines[1] == ("<5>audit: x" if journal else "nm-cloud-metadata: audit: x")


def test_aiohttps_lines_lose_their_tracebacks_and_are_rate_limited(captured):
    logs.setup("INFO", journal=False, stream=captured)
    server = logging.getLogger("aiohttp.server")
    for _ in range(100):
        try:
            raise ConnectionResetError("the client hung up")
        except ConnectionResetError:
            server.exception("Error handling request")
    text = captured.getvalue()
    assert "Traceback" not in text and text.count("\n") == 1
    assert "Error handling request: ConnectionResetError: the client hung up" in text


def test_the_access_log_can_be_turned_off(captured):
    logs.setup("INFO", journal=False, access=False, stream=captured)
    logs.ACCESS.info("access: x")
    logs.setup("INFO", journal=False, access=True, stream=captured)
    logs.ACCESS.info("access: y")
    assert captured.getvalue() == "nm-cloud-metadata: access: y\n"


def test_clients_text_is_escaped():
    assert logs.printable("/a\r\nb\x1b[31m\u00e9") == "/a\\r\\nb\\x1b[31m\\xe9"
    assert len(logs.printable("x" * 1000)) == 200
