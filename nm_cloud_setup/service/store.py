"""The VMs, kept in SQLite (the standard library's ``sqlite3``) with a schema version.

Every API write is one transaction (``BEGIN IMMEDIATE``), so two API clients
never interleave, and a MAC, an address or an instance id held by another VM is
refused inside the same transaction that would store it.  Metadata requests never
touch the database: they read an immutable snapshot (source address -> VM) that
each committed write replaces.  One service process owns a database.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from nm_cloud_setup.service.vms import VmError, check_vm, merge, source_addresses
from nm_cloud_setup.shapes.instance import Instance, instance


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
        _index(db, name, json.loads(doc))


MIGRATIONS: List[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def _index(db: sqlite3.Connection, name: str, vm: Dict[str, Any]) -> None:
    db.execute("INSERT INTO instance_ids VALUES (?, ?)", (vm["instance_id"], name))
    db.executemany("INSERT INTO macs VALUES (?, ?)",
                   [(nic["mac"], name) for nic in vm["interfaces"]])
    db.executemany("INSERT INTO addresses VALUES (?, ?)",
                   [(address, name) for address in source_addresses(vm)])


@dataclass(frozen=True)
class Entry:
    name: str
    vm: Dict[str, Any]
    instance: Instance


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Store:
    def __init__(self, path: Union[str, Path]) -> None:
        self.db = sqlite3.connect(str(path), timeout=10, isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.lock = threading.Lock()
        self._migrate()
        self._by_address: Dict[str, Entry] = {}
        self._reload()

    def close(self) -> None:
        self.db.close()

    # -- schema ------------------------------------------------------------------

    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        with self._transaction():
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"the database has schema version {version}; this "
                                   f"version of the service knows up to {SCHEMA_VERSION}")
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction at a time: committed, or rolled back on any error."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # -- reads ---------------------------------------------------------------------

    def by_source(self, address: str) -> Optional[Entry]:
        """The VM holding ``address`` (a request's source), from the snapshot."""
        if address.startswith("::ffff:"):
            address = address[7:]
        return self._by_address.get(address)

    def get(self, name: str) -> Optional[Dict[str, Any]]:
        with self.lock:
            row = self.db.execute("SELECT doc FROM vms WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def all(self) -> Dict[str, Dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT name, doc FROM vms ORDER BY name").fetchall()
        return {name: json.loads(doc) for name, doc in rows}

    # -- writes --------------------------------------------------------------------

    def put(self, name: str, body: Any) -> Tuple[Dict[str, Any], bool]:
        """Create or replace; (the stored VM, whether it was created)."""
        return self._write(name, lambda old: body)

    def patch(self, name: str, changes: Any) -> Dict[str, Any]:
        """Merge ``changes`` into an existing VM; KeyError when there is none."""
        def merged(old: Optional[Dict[str, Any]]) -> Any:
            if old is None:
                raise KeyError(name)
            return merge(old, changes)
        return self._write(name, merged)[0]

    def delete(self, name: str) -> bool:
        with self._transaction() as db:
            gone = db.execute("DELETE FROM vms WHERE name = ?", (name,)).rowcount > 0
        if gone:
            self._reload()
        return gone

    def _write(self, name: str, new_body: Callable[[Optional[Dict[str, Any]]], Any]):
        with self._transaction() as db:
            row = db.execute("SELECT doc, created FROM vms WHERE name = ?", (name,)).fetchone()
            old = json.loads(row[0]) if row else None
            vm = check_vm(new_body(old))
            self._check_free(db, name, vm)
            now = _now()
            db.execute("DELETE FROM vms WHERE name = ?", (name,))
            db.execute("INSERT INTO vms VALUES (?, ?, ?, ?)",
                       (name, json.dumps(vm), row[1] if row else now, now))
            _index(db, name, vm)
        self._reload()
        return vm, row is None

    def _check_free(self, db: sqlite3.Connection, name: str, vm: Dict[str, Any]) -> None:
        wanted = [("instance_ids", "instance_id", vm["instance_id"], "instance_id")]
        wanted += [("macs", "mac", nic["mac"], f"interfaces[{n}].mac")
                   for n, nic in enumerate(vm["interfaces"])]
        wanted += [("addresses", "address", a, field)
                   for a, field in source_addresses(vm).items()]
        for table, column, value, field in wanted:
            holder = db.execute(f"SELECT vm FROM {table} WHERE {column} = ? AND vm != ?",
                                (value, name)).fetchone()
            if holder:
                raise VmError(field, f"{value} is held by VM {holder[0]!r}", status=409)

    def _reload(self) -> None:
        """A new snapshot for the metadata readers (swapped in whole, never edited)."""
        with self.lock:
            rows = self.db.execute("SELECT name, doc, created FROM vms").fetchall()
        snapshot = {}
        for name, doc, created in rows:
            vm = json.loads(doc)
            entry = Entry(name, vm, instance(vm, created))
            for address in source_addresses(vm):
                snapshot[address] = entry
        self._by_address = snapshot
