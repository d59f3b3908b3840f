"""SIGTERM (pipeline/cancel.py): held while a device is in hand, noted outside the metadata
wait, at once while waiting for the metadata."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from nm_cloud_setup.errors import Cancelled
from nm_cloud_setup.pipeline.cancel import Cancellation


def test_sigterm_inside_a_device_waits_for_it():
    cancel = Cancellation()
    with pytest.raises(Exception, match="device in hand was finished"):
        with cancel.critical():
            cancel.request()  # held, not raised here
            finished = True
    assert finished


def test_sigterm_outside_the_metadata_wait_is_only_noted():
    """Thrown into a D-Bus or netlink call, an exception breaks the library: the request
    waits for the next safe point."""
    cancel = Cancellation()
    cancel.request()  # no exception here
    with pytest.raises(Cancelled, match="before reconfiguration"):
        cancel.check(changed=False)


def test_sigterm_while_waiting_for_the_metadata_cancels_at_once():
    cancel = Cancellation()
    release = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: cancel.request())
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        with pytest.raises(Cancelled, match="before reconfiguration"):
            cancel.interruptible(lambda: release.wait(10))
        assert time.monotonic() - started < 5
    finally:
        release.set()
        signal.signal(signal.SIGTERM, previous)
    with pytest.raises(Cancelled):  # once requested, no new wait begins
        cancel.interruptible(lambda: 42)
    fresh = Cancellation()
    assert fresh.interruptible(lambda: 42) == 42
    with pytest.raises(ValueError):
        fresh.interruptible(lambda: int("x"))
