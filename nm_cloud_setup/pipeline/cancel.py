"""SIGTERM handling for a run.

The signal handler only raises while the run waits for metadata requests (in
``interruptible``): nothing is changed yet, and the wait is plain Python, so the run
stops at once.  Anywhere else (D-Bus and netlink calls, logging) an exception thrown
into the middle of a library would break it: there the request is only noted, and
``check()`` raises at the next safe point; inside ``critical()``, only once the
device in hand is finished.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Callable, Iterator, Tuple, TypeVar

from nm_cloud_setup.errors import Cancelled

T = TypeVar("T")


class Cancellation:
    """SIGTERM: cancel at once while waiting for metadata; elsewhere at the next safe
    point, and inside ``critical()`` only once it is left."""

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0
        self._waiting = 0

    def request(self) -> None:
        self.requested = True
        if self._waiting and self._depth == 0:
            raise Cancelled("cancelled by SIGTERM before reconfiguration")

    def check(self, changed: bool = True) -> None:
        if self.requested:
            raise Cancelled("cancelled by SIGTERM; the device in hand was finished first"
                            if changed else "cancelled by SIGTERM before reconfiguration")

    def interruptible(self, work: Callable[[], T]) -> T:
        """``work()`` (requests only, no changes) in a thread, cancelled at once by SIGTERM."""
        results: "queue.Queue[Tuple[bool, object]]" = queue.Queue()

        def call() -> None:
            try:
                results.put((True, work()))
            except BaseException as err:  # handed to the waiting thread
                results.put((False, err))

        threading.Thread(target=call, daemon=True).start()
        self._waiting += 1
        try:
            self.check(changed=False)
            ok, value = results.get()
        finally:
            self._waiting -= 1
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0:
            self.check()
