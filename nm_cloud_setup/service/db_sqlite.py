"""The embedded database: one SQLite file (the standard library's ``sqlite3``).

One service process per file: the process holds an exclusive ``flock`` on it while it
runs, and a second one stops at start with one line saying so (several hosts share
PostgreSQL instead).  The file is created mode 0600 and one found readable by others is
set back to 0600 (SQLite gives its ``-wal`` and ``-shm`` files the same mode).  A file
that is not a SQLite database, or fails SQLite's ``quick_check``, stops the start with
one line.  Errors while serving are ``StoreError``: 507 when the disk is full, 503
otherwise; the transaction is rolled back and the next one works.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Callable, Iterator, List, Union

from nm_cloud_setup.service.db import Database, StoreError, Tx
from nm_cloud_setup.service.vms import source_addresses

LOG = logging.getLogger("nm_cloud_setup.service")


def _v1(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE vms (name TEXT PRIMARY KEY, doc TEXT NOT NULL, "
               "created TEXT NOT NULL, updated TEXT NOT NULL)")


def _v2(db: sqlite3.Connection) -> None:
    """Who holds which MAC, source address and instance id: unique across VMs."""
    for table, column in (("macs", "mac"), ("addresses", "address"),
                          ("instance_ids", "instance_id")):
        db.execute(f"CREATE TABLE {table} ({column} TEXT PRIMARY KEY, "
                   "vm TEXT NOT NULL REFERENCES vms(name) ON DELETE CASCADE)")
    for name, doc in db.execute("SELECT name, doc FROM vms").fetchall():
        vm = json.loads(doc)
        db.execute("INSERT INTO instance_ids VALUES (?, ?)", (vm["instance_id"], name))
        db.executemany("INSERT INTO macs VALUES (?, ?)",
                       [(nic["mac"], name) for nic in vm["interfaces"]])
        db.executemany("INSERT INTO addresses VALUES (?, ?)",
                       [(address, name) for address in source_addresses(vm)])


def _v3(db: sqlite3.Connection) -> None:
    """Each VM's token key and last change; the change log; the holders indexed by VM
    (a delete cascades through an index, not a scan of every VM's rows)."""
    db.execute("ALTER TABLE vms ADD COLUMN token_key TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE vms ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
    for (name,) in db.execute("SELECT name FROM vms").fetchall():
        db.execute("UPDATE vms SET token_key = ? WHERE name = ?", (secrets.token_hex(16), name))
    for table in ("macs", "addresses", "instance_ids"):
        db.execute(f"CREATE INDEX {table}_vm ON {table}(vm)")
    db.execute("CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
               "name TEXT NOT NULL)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('changes_trimmed', '0')")


MIGRATIONS: List[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)


def _error(err: sqlite3.Error, path: str) -> StoreError:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "full" in text:  # SQLITE_FULL: "database or disk is full"
        return StoreError(f"the database {path} could not be written: {text}", 507)
    return StoreError(f"the database {path} failed: {text}")


def _private(path: Path) -> int:
    """Open (create) ``path`` mode 0600, set an existing one that others may read back to
    0600, and hold its lock; the descriptor (kept open while the process serves)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            try:
                mode = stat.S_IMODE(os.stat(name).st_mode)
            except FileNotFoundError:
                continue
            if mode & 0o077:
                os.chmod(name, mode & 0o700)
                LOG.warning("%s was mode %04o (others could read it): set to %04o", name, mode,
                            mode & 0o700)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"{path} is in use by another nm-cloud-metadata-service process "
                             "(one process per database file; several hosts share a "
                             "PostgreSQL database instead)") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


class SqliteDatabase(Database):
    kind = "sqlite"

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self._lock_fd = _private(self.path)
        self.lock = threading.Lock()
        try:
            self.db = sqlite3.connect(str(self.path), timeout=10, isolation_level=None,
                                      check_same_thread=False)
        except sqlite3.Error as err:
            os.close(self._lock_fd)
            raise StoreError(f"{self.path}: cannot open the database: {err}") from None
        try:
            check = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except StoreError:
            self.close()
            raise
        except sqlite3.DatabaseError as err:
            self.close()
            raise StoreError(f"{self.path} is not a usable SQLite database ({err}): move it "
                             "away and restore a copy, or start with an empty file") from None

    def close(self) -> None:
        self.db.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def describe(self) -> str:
        return str(self.path)

    def schema_version(self) -> int:
        with self.lock:
            return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        with self.write() as tx:
            version = tx.one("PRAGMA user_version")[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {version}; this version of "
                                 f"the service knows up to {SCHEMA_VERSION}")
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(self.db)
                tx.run(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        with self.lock:
            try:
                self.db.execute(begin)
            except sqlite3.Error as err:
                raise _error(err, str(self.path)) from None
            try:
                yield Tx(self.db.cursor())
                self.db.execute("COMMIT")
            except BaseException as err:
                if self.db.in_transaction:
                    try:
                        self.db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(err, sqlite3.Error):
                    raise _error(err, str(self.path)) from None
                raise

    def write(self) -> "contextlib.AbstractContextManager[Tx]":
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> "contextlib.AbstractContextManager[Tx]":
        return self._transaction("BEGIN")

    def log_change(self, tx: Tx, name: str) -> int:
        return tx.run("INSERT INTO changes (name) VALUES (?)", name).lastrowid
