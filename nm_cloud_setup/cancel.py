"""SIGTERM handling for a run: cancel at once, except inside ``critical()``, where it
waits until the device in hand is finished (or a move between devices is complete)."""

from __future__ import annotations

import contextlib
from typing import Iterator

from nm_cloud_setup.errors import Cancelled


class Cancellation:
    """SIGTERM handling: cancel at once, except inside ``critical()``, where it waits."""

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0

    def request(self) -> None:
        self.requested = True
        if self._depth == 0:
            raise Cancelled("cancelled by SIGTERM before reconfiguration")

    def check(self) -> None:
        if self.requested:
            raise Cancelled("cancelled by SIGTERM; the device in hand was finished first")

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0:
            self.check()
