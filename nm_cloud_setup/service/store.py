"""The VMs: kept in a database (``db_sqlite`` by default, ``db_postgres`` shared by several
hosts), served from memory.

Every API write is one transaction, serialized with every other writer of the same
database (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock), so a MAC, an
address or an instance id held by another VM is refused inside the transaction that
would store it.  Each write appends the VM's name to a change log.

Metadata requests never touch the database: they read a snapshot in memory (source
address -> VM) that follows the change log.  After a write, and (PostgreSQL) when
another host's write is notified, the snapshot reads the changes since the last one
it applied and replaces just those VMs' entries: a write costs the same with 10 VMs
as with 10,000.  While the database is unreachable, the snapshot keeps what it last
read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Union

from nm_cloud_setup.service.db import Database, StoreError, Tx, trim_changes, trimmed
from nm_cloud_setup.service.vms import VmError, check_vm, merge, source_addresses
from nm_cloud_setup.shapes.instance import Instance, instance

LOG = logging.getLogger("nm_cloud_setup.service")
ROW = "SELECT name, doc, created, token_key, seq FROM vms"


@dataclass(frozen=True)
class Entry:
    name: str
    vm: Dict[str, Any]
    instance: Instance
    # Signs the VM's IMDSv2 tokens; a new key revokes them all.
    token_key: bytes = dataclasses.field(repr=False)
    seq: int


class Written(NamedTuple):
    vm: Dict[str, Any]
    created: bool
    changed: List[str]  # the top-level fields that differ from before


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _entry(row: tuple) -> Entry:
    name, doc, created, key, seq = row
    vm = json.loads(doc)
    return Entry(name, vm, instance(vm, created, name), bytes.fromhex(key), seq)


def open_database(spec: Union[str, Path]) -> Database:
    """``postgresql://...`` (or ``postgres://``): PostgreSQL; anything else: a SQLite file."""
    text = str(spec)
    if text.startswith(("postgresql://", "postgres://")):
        try:  # psycopg2 is optional (SQLite needs none): one line, no traceback
            from nm_cloud_setup.service.db_postgres import PostgresDatabase
        except ImportError as err:
            raise StoreError(f"a PostgreSQL database needs psycopg2 ({err}): apt install "
                             "python3-psycopg2, or pip install 'nm-cloud-setup[postgres]'"
                             ) from None
        return PostgresDatabase(text)
    from nm_cloud_setup.service.db_sqlite import SqliteDatabase
    return SqliteDatabase(text)


class Store:
    def __init__(self, database: Union[Database, str, Path]) -> None:
        self.database = database if isinstance(database, Database) else open_database(database)
        self._by_address: Dict[str, Entry] = {}
        self._by_name: Dict[str, Entry] = {}
        self._seq = -1  # the last change applied; -1: nothing read yet
        self._sync_lock = threading.Lock()
        try:
            self.sync()
        except BaseException:
            self.database.close()
            raise

    def close(self) -> None:
        self.database.close()

    def schema_version(self) -> int:
        return self.database.schema_version()

    def follow(self, stop: threading.Event) -> Optional[threading.Thread]:
        """Follow the writes of other processes sharing the database (PostgreSQL)."""
        return self.database.follow(self.sync, stop)

    # -- reads ---------------------------------------------------------------------

    def by_source(self, address: str) -> Optional[Entry]:
        """The VM holding ``address`` (a request's source), from the snapshot."""
        if address.startswith("::ffff:"):
            address = address[7:]
        return self._by_address.get(address)

    def count(self) -> int:
        """How many VMs the snapshot holds."""
        return len(self._by_name)

    def get(self, name: str) -> Optional[Dict[str, Any]]:
        with self.database.read() as tx:
            row = tx.one("SELECT doc FROM vms WHERE name = ?", name)
        return json.loads(row[0]) if row else None

    def all(self) -> Dict[str, Dict[str, Any]]:
        with self.database.read() as tx:
            rows = tx.rows("SELECT name, doc FROM vms ORDER BY name")
        return {name: json.loads(doc) for name, doc in rows}

    # -- writes --------------------------------------------------------------------

    def put(self, name: str, body: Any) -> Written:
        """Create or replace."""
        return self._write(name, lambda old: body)

    def patch(self, name: str, changes: Any) -> Written:
        """Merge ``changes`` into an existing VM; KeyError when there is none."""
        def merged(old: Optional[Dict[str, Any]]) -> Any:
            if old is None:
                raise KeyError(name)
            return merge(old, changes)
        return self._write(name, merged)

    def delete(self, name: str) -> bool:
        with self.database.write() as tx:
            gone = tx.run("DELETE FROM vms WHERE name = ?", name).rowcount > 0
            if gone:
                self._logged(tx, name)
        if gone:
            self._caught_up()
        return gone

    def _write(self, name: str, new_body: Callable[[Optional[Dict[str, Any]]], Any]) -> Written:
        with self.database.write() as tx:
            row = tx.one("SELECT doc, created, token_key FROM vms WHERE name = ?", name)
            old = json.loads(row[0]) if row else None
            vm = check_vm(new_body(old))
            self._check_free(tx, name, vm)
            now = _now()
            # The token key stays while the instance does: a VM created anew, or given
            # a new instance id, gets a new key, and every token of the old one dies.
            same = row is not None and old["instance_id"] == vm["instance_id"]
            key = row[2] if same and row[2] else secrets.token_hex(16)
            seq = self._logged(tx, name)
            tx.run("DELETE FROM vms WHERE name = ?", name)
            tx.run("INSERT INTO vms (name, doc, created, updated, token_key, seq) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   name, json.dumps(vm), row[1] if row else now, now, key, seq)
            tx.run("INSERT INTO instance_ids VALUES (?, ?)", vm["instance_id"], name)
            tx.many("INSERT INTO macs VALUES (?, ?)",
                    [(nic["mac"], name) for nic in vm["interfaces"]])
            tx.many("INSERT INTO addresses VALUES (?, ?)",
                    [(address, name) for address in source_addresses(vm)])
        self._caught_up()
        changed = sorted(k for k in set(vm) | set(old or {}) if (old or {}).get(k) != vm.get(k))
        return Written(vm, row is None, changed)

    def _logged(self, tx: Tx, name: str) -> int:
        seq = self.database.log_change(tx, name)
        trim_changes(tx, seq)
        return seq

    @staticmethod
    def _check_free(tx: Tx, name: str, vm: Dict[str, Any]) -> None:
        wanted = [("instance_ids", "instance_id", vm["instance_id"], "instance_id")]
        wanted += [("macs", "mac", nic["mac"], f"interfaces[{n}].mac")
                   for n, nic in enumerate(vm["interfaces"])]
        wanted += [("addresses", "address", a, field)
                   for a, field in source_addresses(vm).items()]
        for table, column, value, field in wanted:
            holder = tx.one(f"SELECT vm FROM {table} WHERE {column} = ? AND vm != ?",
                            value, name)
            if holder:
                raise VmError(field, f"{value} is held by VM {holder[0]!r}", status=409)

    def _caught_up(self) -> None:
        """After a committed write: the snapshot follows (a failure here loses nothing:
        the write is stored, and the next sync reads it)."""
        try:
            self.sync()
        except StoreError as err:
            LOG.warning("a write was stored, but reading it back failed (%s); the metadata "
                        "follows at the next sync", err)

    # -- the snapshot --------------------------------------------------------------

    def sync(self, read: Optional[Callable[[], Any]] = None) -> int:
        """Apply the changes logged since the last sync (all of them at the start, or
        when the log no longer reaches back that far); how many VMs changed.
        ``read``: the database's ``read`` to use (a follower's own connection)."""
        with self._sync_lock, (read or self.database.read)() as tx:
            if self._seq < 0 or self._seq < trimmed(tx):
                return self._reload(tx)
            changes = tx.rows("SELECT seq, name FROM changes WHERE seq > ? ORDER BY seq",
                              self._seq)
            if not changes:
                return 0
            names = sorted({name for _, name in changes})
            rows = {row[0]: row for row in tx.where_in(ROW + " WHERE name IN ({})", names)}
            for name in names:
                self._apply(name, _entry(rows[name]) if name in rows else None)
            self._seq = changes[-1][0]
            return len(names)

    def _reload(self, tx: Tx) -> int:
        seq = tx.one("SELECT COALESCE(MAX(seq), 0) FROM changes")[0]
        by_name = {entry.name: entry for entry in map(_entry, tx.rows(ROW))}
        by_address = {address: entry for entry in by_name.values()
                      for address in source_addresses(entry.vm)}
        self._by_name, self._by_address, self._seq = by_name, by_address, seq
        return len(by_name)

    def _apply(self, name: str, new: Optional[Entry]) -> None:
        """Replace one VM's entries; readers see the old entry or the new one, whole."""
        old = self._by_name.get(name)
        addresses = source_addresses(new.vm) if new else {}
        if new is not None:
            for address in addresses:
                self._by_address[address] = new
            self._by_name[name] = new
        else:
            self._by_name.pop(name, None)
        if old is not None:
            for address in source_addresses(old.vm):
                if address not in addresses and self._by_address.get(address) is old:
                    del self._by_address[address]
