"""The metadata service without namespaces: checks, store, API, routing by source address.

Sources are told apart on loopback (any 127.0.0.0/8 address is local on Linux);
``e2e/test_service.py`` does it with VM namespaces, real routing and real clients.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import subprocess
import sys
import threading

import pytest

from harness.lab import api_request
from nm_cloud_setup.service import cli, httpd
from nm_cloud_setup.service.api import ManagementApi
from nm_cloud_setup.service.metadata import MetadataService
from nm_cloud_setup.service.store import SCHEMA_VERSION, Store
from nm_cloud_setup.service.vms import VmError, check_vm


def vm(mac="02:00:00:00:00:01", addresses=("10.0.0.5",), subnet="10.0.0.0/24", **extra):
    return {"interfaces": [{"mac": mac, "subnet": subnet, "addresses": list(addresses)}],
            **extra}


BAD = [  # (body, field, status)
    ({"interfaces": []}, "interfaces", 400),
    ({**vm(), "colour": "red"}, "colour", 400),
    (vm(mac="02:00:00:00:00"), "interfaces[0].mac", 400),
    (vm(mac="03:00:00:00:00:01"), "interfaces[0].mac", 400),  # multicast
    (vm(addresses=["10.0.0.300"]), "interfaces[0].addresses[0]", 400),
    (vm(addresses=["10.0.1.5"]), "interfaces[0].addresses[0]", 400),  # outside its subnet
    (vm(addresses=["10.0.0.5", "10.0.0.5"]), "interfaces[0].addresses[1]", 400),
    (vm(subnet="10.0.0.0/33"), "interfaces[0].subnet", 400),
    (vm(ssh_keys="ssh-rsa AAAA"), "ssh_keys", 400),
    (vm(ssh_keys=["ssh-rsa AAAA\nssh-rsa BBBB"]), "ssh_keys[0]", 400),
    (vm(user_data=5), "user_data", 400),
    (vm(hostname="bad_host name"), "hostname", 400),
    (vm(public_ipv4="fd00::1"), "public_ipv4", 400),
    (vm(region="eu-west-1", availability_zone="us-east-1a"), "availability_zone", 400),
    ({"interfaces": [{"mac": "02:00:00:00:00:01", "subnet": "10.0.0.0/24",
                      "addresses": ["10.0.0.5"], "ipv6s": ["fd00::5"]}]},
     "interfaces[0].ipv6_subnet", 400),
    ({"interfaces": [{"mac": "02:00:00:00:00:01", "subnet": "10.0.0.0/24",
                      "addresses": ["10.0.0.5"]},
                     {"mac": "02:00:00:00:00:01", "subnet": "10.0.1.0/24",
                      "addresses": ["10.0.1.5"]}]}, "interfaces[1].mac", 400),
    ({"interfaces": [{"subnet": "10.0.0.0/24", "addresses": ["10.0.0.5"]}]},
     "interfaces[0].mac", 400),
    ([1, 2], None, 400),
]


@pytest.mark.parametrize("body,field,status", BAD, ids=[str(b[1]) for b in BAD])
def test_bad_vms_name_the_field(body, field, status):
    with pytest.raises(VmError) as err:
        check_vm(body)
    assert (err.value.field, err.value.status) == (field, status)


def test_a_vm_is_normalised_and_gets_an_instance_id():
    checked = check_vm(vm(mac="02:AA:00:00:00:01", ssh_keys=[" ssh-ed25519 AAAA a "]))
    assert checked["interfaces"][0] == {"mac": "02:aa:00:00:00:01", "device_number": 0,
                                        "subnet": "10.0.0.0/24", "addresses": ["10.0.0.5"]}
    assert checked["ssh_keys"] == ["ssh-ed25519 AAAA a"]
    assert checked["instance_id"].startswith("i-") and len(checked["instance_id"]) == 19
    int(checked["instance_id"][2:], 16)


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "vms.db")
    yield store
    store.close()


def test_store_crud_and_conflicts(store):
    first, created = store.put("a", vm(instance_id="i-1"))
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
    reopened.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
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


def test_management_api(store):
    api = ManagementApi(store, token="s3cret-token-0123456789")
    auth = {"Authorization": "Bearer s3cret-token-0123456789"}
    assert api.handle("GET", "/v1/health", {}, b"")[0] == 401
    assert api.handle("GET", "/v1/health", {"Authorization": "Bearer nope"}, b"")[0] == 401
    assert api.handle("GET", "/v1/health", auth, b"")[0] == 200
    assert api.handle("PUT", "/v1/vms/a", auth, json.dumps(vm()).encode())[0] == 201
    assert api.handle("PUT", "/v1/vms/a", auth, json.dumps(vm()).encode())[0] == 200
    for body, status, field in ((b"{", 400, None), (b"\xff", 400, None),
                                (json.dumps({**vm(), "x": 1}).encode(), 400, "x")):
        answer = api.handle("PUT", "/v1/vms/b", auth, body)
        assert answer[0] == status and json.loads(answer[2])["field"] == field
    assert api.handle("PUT", "/v1/vms/bad%20name", auth, b"{}")[0] == 400
    assert api.handle("PATCH", "/v1/vms/a", auth, b'{"hostname": "h"}')[0] == 200
    assert api.handle("PATCH", "/v1/vms/zz", auth, b'{}')[0] == 404
    assert json.loads(api.handle("GET", "/v1/vms", auth, b"")[2])["vms"]["a"]["hostname"] == "h"
    assert api.handle("DELETE", "/v1/vms/a", auth, b"")[0] == 204
    assert api.handle("GET", "/v1/vms/a", auth, b"")[0] == 404


def test_metadata_by_source_tokens_and_forwarding(store):
    store.put("a", vm(user_data="a-data"))
    store.put("b", vm(mac="02:00:00:00:00:02", addresses=["10.0.0.6"]))
    service = MetadataService(store, "optional")
    ttl = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    get = "/latest/meta-data/instance-id"
    assert service.handle("GET", get, {}, "10.0.0.7")[0] == 404  # nobody's
    assert service.handle("GET", "/", {}, "10.0.0.7")[0] == 404
    assert service.handle("GET", "/latest/user-data", {}, "10.0.0.5")[2] == b"a-data"
    assert service.handle("GET", "/latest/user-data", {}, "10.0.0.6")[0] == 404
    mac_a = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/local-ipv4s"
    assert service.handle("GET", mac_a, {}, "10.0.0.6")[0] == 404
    token_a = service.handle("PUT", "/latest/api/token", ttl, "10.0.0.5")[2].decode()
    with_a = {"X-aws-ec2-metadata-token": token_a}
    assert service.handle("GET", get, with_a, "10.0.0.5")[0] == 200
    assert service.handle("GET", get, with_a, "10.0.0.6")[0] == 401  # a's token, b asks
    assert service.handle("PUT", "/latest/api/token", {**ttl, "X-Forwarded-For": "10.0.0.6"},
                          "10.0.0.5")[0] == 403
    assert service.handle("PUT", "/latest/api/token", {}, "10.0.0.5")[0] == 400
    strict = MetadataService(store, "required")
    assert strict.handle("GET", get, {}, "10.0.0.5")[0] == 401
    assert strict.handle("GET", "/openstack/latest/meta_data.json", {}, "10.0.0.5")[0] == 200
    token = strict.handle("PUT", "/latest/api/token", ttl, "10.0.0.5")[2].decode()
    assert strict.handle("GET", get, {"X-aws-ec2-metadata-token": token}, "10.0.0.5")[0] == 200


def _get(port: int, path: str, source: str, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_listeners_tell_vms_apart_and_the_tcp_api_needs_its_token(tmp_path):
    token = "t0k3n-0123456789abcdef"
    with pytest.raises(ValueError, match="api-token-file"):
        cli.build(str(tmp_path / "db"), ("127.0.0.1:0",), "127.0.0.1:0", None, "optional")
    with pytest.raises(ValueError, match="share"):
        cli.build(str(tmp_path / "db"), ("127.0.0.1:8",), "127.0.0.1:8", token, "optional")
    store, servers = cli.build(str(tmp_path / "db"), ("127.0.0.1:0",), "127.0.0.1:0", token,
                               "optional")
    stop = threading.Event()
    thread = threading.Thread(target=httpd.serve, args=(servers, stop))
    thread.start()
    try:
        metadata, api = (httpd.bound(s) for s in servers)
        assert api_request(api, "GET", "/v1/vms")[0] == 401
        assert api_request(api, "GET", "/v1/vms", token="wrong-token-0123456")[0] == 401
        for n in (1, 2):
            body = vm(mac=f"02:00:00:00:00:0{n}", addresses=[f"127.0.0.{10 + n}"],
                      subnet="127.0.0.0/8", hostname=f"vm{n}")
            assert api_request(api, "PUT", f"/v1/vms/vm{n}", body, token=token)[0] == 201
        port = int(metadata.rpartition(":")[2])
        assert _get(port, "/latest/meta-data/hostname", "127.0.0.11") == (200, b"vm1")
        assert _get(port, "/latest/meta-data/hostname/", "127.0.0.12") == (200, b"vm2")
        assert _get(port, "/latest/meta-data/hostname", "127.0.0.13")[0] == 404
        assert _get(port, "/v1/vms", "127.0.0.11")[0] == 404  # no API on the metadata port
    finally:
        stop.set()
        thread.join()
        store.close()


def test_the_command_refuses_a_tcp_api_without_a_token(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nm_cloud_setup.emulator", "serve",
                             "--db", str(tmp_path / "db"), "--listen", "127.0.0.1:0",
                             "--api", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "api-token-file" in result.stderr
    short = tmp_path / "token"
    short.write_text("short\n")
    result = subprocess.run([sys.executable, "-m", "nm_cloud_setup.service", "--db",
                             str(tmp_path / "db"), "--api", "127.0.0.1:0",
                             "--api-token-file", str(short)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "16 or more" in result.stderr
