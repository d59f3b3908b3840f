"""The VM store (service/store.py, on db_sqlite.py): writes and conflicts, a reopen and an old
schema, concurrent writers and readers, a write that replaces only its VM, token keys, the
change log trimmed, one process per file, file modes, a corrupt file, a full database."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading

import pytest

from nm_cloud_setup.service import db
from nm_cloud_setup.service.db import StoreError
from nm_cloud_setup.service.db_sqlite import SCHEMA_VERSION
from nm_cloud_setup.service.store import Store
from nm_cloud_setup.service.vms import VmError, check_vm
from tests.support.vm_documents import vm


def test_store_crud_and_conflicts(store):
    first, created, _ = store.put("a", vm(instance_id="i-1"))
    assert created and store.get("a") == first
    assert store.put("a", vm(instance_id="i-1", hostname="a"))[1] is False
    for body, field in ((vm(), "interfaces[0].mac"),
                        (vm(mac="02:00:00:00:00:02", addresses=["10.0.0.5"]),
                         "interfaces[0].addresses[0]"),
                        (vm(mac="02:00:00:00:00:02", addresses=["10.0.0.6"], instance_id="i-1"),
                         "instance_id")):
        with pytest.raises(VmError) as err:
            store.put("b", body)
        assert (err.value.status, err.value.field) == (409, field)
    assert list(store.all()) == ["a"]
    assert store.by_source("10.0.0.5").name == "a" and store.by_source("::ffff:10.0.0.5")
    store.patch("a", {"hostname": None, "region": "r-1"})
    assert "hostname" not in store.get("a") and store.get("a")["region"] == "r-1"
    assert store.by_source("10.0.0.5").instance.region == "r-1"
    with pytest.raises(KeyError):
        store.patch("zz", {})
    assert store.delete("a") and not store.delete("a")
    assert store.by_source("10.0.0.5") is None


def test_store_survives_a_reopen_and_migrates_an_old_schema(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE vms (name TEXT PRIMARY KEY, doc TEXT NOT NULL, "
               "created TEXT NOT NULL, updated TEXT NOT NULL)")
    db.execute("INSERT INTO vms VALUES ('old', ?, 't0', 't0')",
               (json.dumps(check_vm(vm(instance_id="i-old"))),))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.by_source("10.0.0.5").name == "old"
    with pytest.raises(VmError):  # the migrated index knows who holds what
        store.put("new", vm())
    store.close()
    reopened = Store(path)
    assert list(reopened.all()) == ["old"]
    reopened.database.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    reopened.close()
    with pytest.raises(RuntimeError, match="schema version"):
        Store(path)


def test_concurrent_writers_and_readers(store):
    errors, winners = [], []

    def claim(n):  # 16 VMs race for one address; each also has its own
        try:
            store.put(f"vm{n}", vm(mac=f"02:00:00:00:01:{n:02x}",
                                   addresses=[f"10.0.0.{100 + n}"]))
            store.put(f"race{n}", vm(mac=f"02:00:00:00:02:{n:02x}", addresses=["10.0.0.9"]))
            winners.append(n)
        except VmError as err:
            if err.status != 409:
                errors.append(err)

    def read():
        for _ in range(2000):
            entry = store.by_source("10.0.0.9")
            if entry is not None and entry.vm["interfaces"][0]["addresses"] != ["10.0.0.9"]:
                errors.append(entry)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(winners) == 1
    assert len(store.all()) == 17


def test_a_write_replaces_only_its_vms_entries(store):
    for n in range(50):
        store.put(f"vm{n}", vm(mac=f"02:00:00:00:01:{n:02x}", addresses=[f"10.0.0.{100 + n}"]))
    before = {n: store.by_source(f"10.0.0.{100 + n}") for n in range(50)}
    store.put("vm7", vm(mac="02:00:00:00:01:07", addresses=["10.0.0.7"], hostname="moved"))
    after = {n: store.by_source(f"10.0.0.{100 + n}") for n in range(50)}
    assert all(after[n] is before[n] for n in range(50) if n != 7)  # the same objects
    assert after[7] is None and store.by_source("10.0.0.7").instance.hostname == "moved"
    store.delete("vm8")
    assert store.by_source("10.0.0.108") is None and store.by_source("10.0.0.109") is before[9]


def test_token_keys_change_with_the_instance(store):
    store.put("a", vm())
    key = store.by_source("10.0.0.5").token_key
    store.patch("a", {"hostname": "b"})
    assert store.by_source("10.0.0.5").token_key == key  # the same instance
    store.patch("a", {"instance_id": None})  # a new instance id: a new instance
    assert store.by_source("10.0.0.5").token_key != key
    key = store.by_source("10.0.0.5").token_key
    store.delete("a")
    store.put("a", vm())
    assert store.by_source("10.0.0.5").token_key != key
    assert "token_key" not in repr(store.by_source("10.0.0.5"))


def test_a_follower_far_behind_reloads(store, monkeypatch):
    monkeypatch.setattr(db, "CHANGES_KEPT", 5)
    for n in range(1005):  # the log is trimmed at the thousandth change
        store.put("a", vm(hostname=f"h{n}"))
    assert store.database.db.execute("SELECT COUNT(*) FROM changes").fetchone()[0] <= 10
    store._seq = 3  # as a follower that slept through the trim
    store._by_address.clear()
    assert store.sync() == 1 and store.by_source("10.0.0.5").instance.hostname == "h1004"


def test_one_process_per_file_mode_0600_and_a_corrupt_file(tmp_path, store):
    with pytest.raises(StoreError, match="in use by another"):
        Store(store.database.path)
    fresh = Store(tmp_path / "fresh.db")
    fresh.put("a", vm())
    for suffix in ("", "-wal", "-shm"):
        assert stat.S_IMODE(os.stat(f"{tmp_path}/fresh.db{suffix}").st_mode) == 0o600
    fresh.close()
    os.chmod(tmp_path / "fresh.db", 0o644)
    Store(tmp_path / "fresh.db").close()
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.db").st_mode) == 0o600
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database\n" * 300)
    with pytest.raises(StoreError, match="not a usable SQLite database") as err:
        Store(corrupt)
    assert "\n" not in str(err.value)
    Store(corrupt.with_name("again.db")).close()  # the lock went with the failed open


def test_a_full_database_is_507_and_the_next_write_works(store):
    store.put("a", vm())
    pages = store.database.db.execute("PRAGMA page_count").fetchone()[0]
    store.database.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(StoreError) as err:
        store.put("b", vm(mac="02:00:00:00:00:02", addresses=["10.0.0.6"],
                          user_data="x" * 200_000))
    assert err.value.status == 507 and "full" in str(err.value)
    assert store.get("b") is None and store.by_source("10.0.0.6") is None
    store.database.db.execute("PRAGMA max_page_count = 1073741823")
    assert store.put("b", vm(mac="02:00:00:00:00:02", addresses=["10.0.0.6"]))[1]
