"""PostgreSQL, shared by the services of several hosts: psycopg2 is imported here only.

psycopg2 (2.9: Debian 12's ``python3-psycopg2``, or ``psycopg2-binary`` from PyPI):
its LISTEN/NOTIFY is ``select()`` on the connection, ``poll()``, then the
``notifies`` list, the same in every 2.9 release, so waiting for another host's
write has a timeout on Debian 12 too (psycopg 3.1, Debian 12's ``python3-psycopg``,
has ``notifies()`` without one: that came in 3.2).

Writers take a transaction-level advisory lock first, so the writes of every host
run one after another and the change log is numbered in commit order.  Each write
notifies the channel ``nm_cloud_metadata`` at its commit; every service listens on
a connection of its own (``follow``), reads the changes since the last it applied,
and also looks every 5 s in case a notification was missed.  When the server
restarts or cannot be reached, the follower says so once, keeps retrying (0.5 s,
doubling to 5 s), and the metadata keeps answering from what was last read; API
requests get 503 until it is back (a stale connection is replaced at the next
request, before anything of it ran).  A transaction is atomic: a write that fails
stores nothing.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from typing import Any, Callable, Iterator, Optional

import psycopg2
import psycopg2.extensions

from nm_cloud_setup.service.db import Database, StoreError, Tx

LOG = logging.getLogger("nm_cloud_setup.service")
CHANNEL = "nm_cloud_metadata"
WRITERS_LOCK = 0x6E6D636D64  # the advisory lock every writer takes ("nmcmd")
SCHEMA_VERSION = 3  # the same tables as SQLite's schema 3
POLL = 5.0  # seconds between looks at the change log without a notification
DEFAULTS = {  # libpq parameters, where the DSN gives none
    "connect_timeout": "3", "application_name": "nm-cloud-metadata",
    "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2",
    "keepalives_count": "3", "tcp_user_timeout": "6000",
    "options": "-c statement_timeout=5000 -c lock_timeout=5000 "
               "-c idle_in_transaction_session_timeout=60000",
}
SCHEMA = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE vms (name TEXT PRIMARY KEY, doc TEXT NOT NULL, created TEXT NOT NULL, "
    "updated TEXT NOT NULL, token_key TEXT NOT NULL, seq BIGINT NOT NULL)",
    *(f"CREATE TABLE {table} ({column} TEXT PRIMARY KEY, "
      f"vm TEXT NOT NULL REFERENCES vms(name) ON DELETE CASCADE)"
      for table, column in (("macs", "mac"), ("addresses", "address"),
                            ("instance_ids", "instance_id"))),
    *(f"CREATE INDEX {table}_vm ON {table}(vm)" for table in ("macs", "addresses",
                                                              "instance_ids")),
    "CREATE TABLE changes (seq BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)",
    f"INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'), ('changes_trimmed', '0')",
]


def _first_line(err: BaseException) -> str:
    text = (getattr(err, "pgerror", None) or str(err) or type(err).__name__).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _error(err: Exception, during: str = "") -> StoreError:
    code = getattr(err, "pgcode", None) or ""
    if code == "53100":  # disk_full
        return StoreError(f"PostgreSQL could not write: {_first_line(err)}", 507)
    if code == "23505":  # unique_violation: a writer outside this service
        return StoreError(f"PostgreSQL refused the write: {_first_line(err)}", 409)
    if isinstance(err, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return StoreError(f"PostgreSQL is unavailable{during}: {_first_line(err)}")
    return StoreError(f"PostgreSQL failed{during}: {_first_line(err)}")


class PostgresDatabase(Database):
    kind = "postgresql"

    def __init__(self, dsn: str) -> None:
        try:
            given = psycopg2.extensions.parse_dsn(dsn)
        except psycopg2.Error as err:
            raise StoreError(f"not a PostgreSQL connection string: {_first_line(err)}") from None
        self.dsn = psycopg2.extensions.make_dsn(dsn, **{k: v for k, v in DEFAULTS.items()
                                                       if k not in given})
        self.where = " ".join(f"{k}={v}" for k, v in sorted(given.items())
                              if k in ("host", "port", "dbname", "user"))
        self.lock = threading.Lock()
        self.conn: Any = None
        try:
            with self.write() as tx:
                if tx.one("SELECT to_regclass('meta')")[0] is None:
                    for statement in SCHEMA:
                        tx.run(statement)
                version = self._version(tx)
                if version > SCHEMA_VERSION:
                    raise StoreError(f"the database has schema version {version}; this "
                                     f"version of the service knows up to {SCHEMA_VERSION}")
        except StoreError as err:
            self.close()
            raise StoreError(f"PostgreSQL ({self.where}): {err}") from None

    def describe(self) -> str:
        return self.where or "(libpq's defaults)"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    @staticmethod
    def _version(tx: Tx) -> int:
        return int(tx.one("SELECT value FROM meta WHERE key = 'schema_version'")[0])

    def schema_version(self) -> int:
        with self.read() as tx:
            return self._version(tx)

    def _connect(self) -> Any:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True  # BEGIN and COMMIT are sent by hand
        return conn

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Tx]:
        begin = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        with self.lock:
            cur = self._begin(begin, write)
            try:
                yield Tx(cur, "%s")
            except BaseException as err:
                self._rollback()
                if isinstance(err, psycopg2.Error):
                    raise _error(err) from None
                raise
            try:
                cur.execute("COMMIT")
            except psycopg2.Error as err:
                self._rollback()
                raise _error(err, " at the commit (a write is stored whole or not at all)"
                             ) from None

    def _begin(self, begin: str, write: bool) -> Any:
        """A cursor in a begun transaction; a connection found dead before anything ran
        (the server restarted since) is replaced once."""
        for attempt in (1, 2):
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self._connect()
                cur = self.conn.cursor()
                cur.execute(begin)
                if write:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITERS_LOCK,))
                return cur
            except psycopg2.Error as err:
                self._rollback()
                stale = isinstance(err, (psycopg2.OperationalError, psycopg2.InterfaceError))
                if attempt == 2 or not stale:
                    raise _error(err) from None
        raise AssertionError("unreachable")

    def _rollback(self) -> None:
        if self.conn is None:
            return
        try:
            if not self.conn.closed:
                self.conn.cursor().execute("ROLLBACK")
                return
        except psycopg2.Error:
            pass
        self.close()  # broken: the next transaction connects again

    def write(self) -> "contextlib.AbstractContextManager[Tx]":
        return self._transaction(write=True)

    def read(self) -> "contextlib.AbstractContextManager[Tx]":
        return self._transaction(write=False)

    def log_change(self, tx: Tx, name: str) -> int:
        seq = tx.one("INSERT INTO changes (name) VALUES (?) RETURNING seq", name)[0]
        tx.run("SELECT pg_notify(?, '')", CHANNEL)
        return seq

    # -- following the other hosts' writes ------------------------------------------

    def follow(self, sync: Callable[..., int],
               stop: threading.Event) -> Optional[threading.Thread]:
        thread = threading.Thread(target=self._follow, args=(sync, stop), daemon=True,
                                  name="postgresql-follower")
        thread.start()
        return thread

    def _follow(self, sync: Callable[..., int], stop: threading.Event) -> None:
        delay, down_since = 0.5, None
        while not stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.cursor().execute(f"LISTEN {CHANNEL}")

                read = self._reader(conn)
                sync(read)
                if down_since is not None:
                    LOG.warning("PostgreSQL (%s) is reachable again after %.0f s: the "
                                "metadata follows its writes", self.where,
                                time.monotonic() - down_since)
                    down_since = None
                delay = 0.5
                self._listen(conn, read, sync, stop)
            except (psycopg2.Error, StoreError, OSError) as err:
                if down_since is None:
                    down_since = time.monotonic()
                    LOG.warning("PostgreSQL (%s) is unavailable (%s): the metadata answers "
                                "from what was last read, API requests get 503 until it is "
                                "back", self.where, _first_line(err))
                stop.wait(delay)
                delay = min(delay * 2, POLL)
            finally:
                if conn is not None:
                    conn.close()

    @staticmethod
    def _reader(conn: Any) -> Callable[[], "contextlib.AbstractContextManager[Tx]"]:
        """``read`` on the follower's own (autocommit) connection."""
        @contextlib.contextmanager
        def read() -> Iterator[Tx]:
            with conn.cursor() as cur:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield Tx(cur, "%s")
                finally:
                    cur.execute("ROLLBACK")
        return read

    @staticmethod
    def _listen(conn: Any, read: Callable, sync: Callable[..., int],
                stop: threading.Event) -> None:
        quiet = 0.0
        while not stop.is_set():
            if select.select([conn], [], [], 1.0)[0]:
                conn.poll()
                if not conn.notifies:
                    continue
                conn.notifies.clear()
            else:
                quiet += 1.0
                if quiet < POLL:
                    continue
            quiet = 0.0
            sync(read)
