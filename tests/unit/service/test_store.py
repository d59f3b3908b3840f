"""The VM store (service/store.py): writes and conflicts, a reopen and an old schema,
concurrent writers and readers."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

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
