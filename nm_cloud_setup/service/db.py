"""What the store asks of a database: SQLite (``db_sqlite``) or PostgreSQL (``db_postgres``).

A database gives write transactions that are serialized across every process that
shares it (so a change log numbered in commit order can be followed), consistent
reads, and a change log: each write appends the name of the VM it changed.  Its
errors reach the store as ``StoreError`` (503: unavailable, try again; 507: full),
never as a driver's exception.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

# Change-log entries kept; a follower further behind than this reloads everything.
CHANGES_KEPT = 10_000


class StoreError(RuntimeError):
    """The database failed; ``status`` is the HTTP status an API answer carries (503 for
    unavailable or broken, 507 for full).  Nothing of the failed write is stored."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


class Tx:
    """One transaction's statements, written with ``?`` placeholders whatever the driver."""

    def __init__(self, cursor: Any, placeholder: str = "?") -> None:
        self.cursor = cursor
        self.placeholder = placeholder

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def run(self, sql: str, *params: Any) -> Any:
        self.cursor.execute(self._sql(sql), params)
        return self.cursor

    def one(self, sql: str, *params: Any) -> Optional[Tuple]:
        return self.run(sql, *params).fetchone()

    def rows(self, sql: str, *params: Any) -> List[Tuple]:
        return list(self.run(sql, *params).fetchall())

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.cursor.executemany(self._sql(sql), rows)

    def where_in(self, sql: str, values: Sequence[Any], chunk: int = 500) -> List[Tuple]:
        """``sql`` ending in ``IN ({})`` run over ``values`` in chunks."""
        found: List[Tuple] = []
        for start in range(0, len(values), chunk):
            part = values[start:start + chunk]
            found += self.rows(sql.format(",".join("?" * len(part))), *part)
        return found


class Database:
    """The contract; ``kind`` names the engine in logs."""

    kind = ""

    def write(self) -> "contextlib.AbstractContextManager[Tx]":
        """A write transaction: committed when the block ends, rolled back on any error.
        Writers of every process sharing the database run one after another."""
        raise NotImplementedError

    def read(self) -> "contextlib.AbstractContextManager[Tx]":
        """A read-only transaction that sees one consistent state."""
        raise NotImplementedError

    def log_change(self, tx: Tx, name: str) -> int:
        """Append ``name`` to the change log in this write; its sequence number."""
        raise NotImplementedError

    def schema_version(self) -> int:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the data is, for log lines (never a password)."""
        raise NotImplementedError

    def follow(self, sync: Callable[..., int],
               stop: threading.Event) -> Optional[threading.Thread]:
        """Call ``sync`` whenever another process may have written, until ``stop``; the
        thread doing it, or None where no other process writes (SQLite)."""
        return None

    def close(self) -> None:
        raise NotImplementedError


def trim_changes(tx: Tx, seq: int) -> None:
    """Every thousandth change, forget the changes older than CHANGES_KEPT (and say so in
    ``meta``, so that a follower further behind reloads everything)."""
    if seq % 1000 or seq <= CHANGES_KEPT:
        return
    below = seq - CHANGES_KEPT
    tx.run("DELETE FROM changes WHERE seq <= ?", below)
    tx.run("UPDATE meta SET value = ? WHERE key = 'changes_trimmed'", str(below))


def trimmed(tx: Tx) -> int:
    """The highest sequence number no longer in the change log."""
    row = tx.one("SELECT value FROM meta WHERE key = 'changes_trimmed'")
    return int(row[0]) if row else 0
