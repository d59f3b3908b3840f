"""The service's log lines, in the journal's conventions.

One event, one line, on stderr, without a timestamp (the journal adds it).  When
stderr is a socket (systemd connects it to the journal), each line starts with its
syslog priority, ``<6>`` and the like (sd-daemon(3)), so ``journalctl -p warning``
finds the warnings; otherwise lines start with ``nm-cloud-metadata:``.  Three kinds:

- the access log (``access:``): one line per request answered, with the source,
  the VM, the request, the status, the bytes and the time taken;
- the audit log (``audit:``, priority notice): every API write (``api``);
- reports of a client's misbehaviour (``refused:``: over a cap or a deadline,
  a body, a flood): rate-limited, at most one line per VM and kind every 10 s, which
  counts what it left out.

No client can make the service write a traceback: aiohttp's own error lines lose
theirs and are rate-limited the same way.  Anything a client sent is escaped before
it is logged.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import time
from typing import Dict, Optional, TextIO, Tuple

ACCESS = logging.getLogger("nm_cloud_setup.service.access")
REPORTS = logging.getLogger("nm_cloud_setup.service.refused")
PRIORITIES = ((logging.ERROR, 3), (logging.WARNING, 4), (25, 5), (logging.INFO, 6))


def journal_stream() -> bool:
    """Whether stderr is a socket: what systemd hands a service whose output goes to the
    journal (a terminal, a file or a pipe is not)."""
    try:
        return stat.S_ISSOCK(os.fstat(sys.stderr.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


class _Format(logging.Formatter):
    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.levelno < logging.CRITICAL:
            err = record.exc_info[1]
            text += f" ({type(err).__name__}: {err})" if err is not None else ""
        text = " ".join(text.splitlines())
        if not self.journal:
            return f"nm-cloud-metadata: {text}"
        level = next((p for lowest, p in PRIORITIES if record.levelno >= lowest), 7)
        return f"<{level}>{text}"


class Throttle:
    """At most one line per key every ``interval`` seconds; the next says how many
    it left out."""

    def __init__(self, interval: float = 10.0, limit: int = 4096) -> None:
        self.interval = interval
        self.limit = limit
        self.seen: Dict[Tuple[str, ...], Tuple[float, int]] = {}

    def passes(self, key: Tuple[str, ...], now: Optional[float] = None) -> Optional[int]:
        """None when this event's line is left out; else how many were before it."""
        now = time.monotonic() if now is None else now
        last, skipped = self.seen.get(key, (-1e9, 0))
        if now - last < self.interval:
            self.seen[key] = (last, skipped + 1)
            return None
        if len(self.seen) >= self.limit:  # forget the quiet ones
            self.seen = {k: v for k, v in self.seen.items() if now - v[0] < self.interval}
            if len(self.seen) >= self.limit:  # all busy: this line goes, uncounted
                return None
        self.seen[key] = (now, 0)
        return skipped


_REPORTS = Throttle()


def report(who: str, kind: str, message: str, *args: object) -> None:
    """A client's misbehaviour (``who``: the VM or "stranger"; ``kind``: what it did),
    rate-limited per who and kind."""
    skipped = _REPORTS.passes((who, kind))
    if skipped is None:
        return
    more = f" (and {skipped} more like it since the last line)" if skipped else ""
    REPORTS.warning("refused: " + message + more, *args)


class _Quiet(logging.Filter):
    """aiohttp's (and asyncio's) own lines: no traceback, and rate-limited per message."""

    def __init__(self) -> None:
        super().__init__()
        self.throttle = Throttle()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("aiohttp", "asyncio")):
            return True
        if record.exc_info:
            err = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(err).__name__}: {err}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return self.throttle.passes((record.name, str(record.msg)[:60])) is not None


def setup(level: str, journal: Optional[bool] = None, access: bool = True,
          stream: Optional[TextIO] = None) -> None:
    """Log to ``stream`` (stderr); ``journal``: with priority prefixes (default: when
    stderr is a socket); ``access``: the access log too."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Format(journal_stream() if journal is None else journal))
    handler.addFilter(_Quiet())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    ACCESS.disabled = not access


def printable(text: str, limit: int = 200) -> str:
    """A client's text as a log line may hold it: ASCII, no control character."""
    return ascii(text[:limit])[1:-1]
