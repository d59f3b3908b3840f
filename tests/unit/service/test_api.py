"""The management API (service/api.py): its token, each method on a VM, bodies it refuses
before storing anything, the database's failures as 507/503, and the audit log."""

from __future__ import annotations

import json
import logging

import pytest

from nm_cloud_setup.service.api import BadBody, ManagementApi, parse_body
from tests.support.vm_documents import vm

AUTH = {"Authorization": "Bearer s3cret-token-0123456789"}


@pytest.fixture
def api(store):
    return ManagementApi(store, token="s3cret-token-0123456789")


def test_management_api(api):
    assert api.handle("GET", "/v1/health", {}, b"")[0] == 401
    assert api.handle("GET", "/v1/health", {"Authorization": "Bearer nope"}, b"")[0] == 401
    assert api.handle("GET", "/v1/health", {"Authorization": "Bearer \udcff"}, b"")[0] == 401
    assert api.handle("GET", "/v1/health", AUTH, b"")[0] == 200
    assert api.handle("PUT", "/v1/vms/a", AUTH, json.dumps(vm()).encode())[0] == 201
    assert api.handle("PUT", "/v1/vms/a", AUTH, json.dumps(vm()).encode())[0] == 200
    for body, status, field in ((b"{", 400, None), (b"\xff", 400, None),
                                (json.dumps({**vm(), "x": 1}).encode(), 400, "x")):
        answer = api.handle("PUT", "/v1/vms/b", AUTH, body)
        assert answer[0] == status and json.loads(answer[2])["field"] == field
    assert api.handle("PUT", "/v1/vms/bad%20name", AUTH, b"{}")[0] == 400
    assert api.handle("PUT", "/v1/vms/a\n", AUTH, b"{}")[0] == 400
    assert api.handle("PATCH", "/v1/vms/a", AUTH, b'{"hostname": "h"}')[0] == 200
    assert api.handle("PATCH", "/v1/vms/zz", AUTH, b'{}')[0] == 404
    assert json.loads(api.handle("GET", "/v1/vms", AUTH, b"")[2])["vms"]["a"]["hostname"] == "h"
    assert json.loads(api.handle("GET", "/v1/health", AUTH, b"")[2]) == {"status": "ok", "vms": 1}
    assert api.handle("DELETE", "/v1/vms/a", AUTH, b"")[0] == 204
    assert api.handle("GET", "/v1/vms/a", AUTH, b"")[0] == 404


@pytest.mark.parametrize("body,message", [
    (b"[" * 200_000 + b"]" * 200_000, "nests deeper than 16"),
    (b'{"a": ' * 17 + b"1" + b"}" * 17, "nests deeper than 16"),
    (b"\xed\xa0\x80", "not UTF-8"),  # a surrogate, encoded: not UTF-8
    (b'{"a": "\\', "not JSON")])
def test_bodies_refused_before_parsing(body, message):
    with pytest.raises(BadBody, match=message):
        parse_body(body)


def test_strings_full_of_brackets_are_not_depth():
    assert parse_body(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[\\"{{{{{{{{{{{{{{{{{{{"}') == {
        "a": '[[[[[[[[[[[[[[[[[[[[[[["{{{{{{{{{{{{{{{{{{{'}


def test_a_lone_surrogate_is_400_naming_the_field_and_nothing_is_stored(api):
    body = json.dumps(vm(user_data="a")).replace('"a"', '"\\ud800"').encode()
    status, _, answer = api.handle("PUT", "/v1/vms/a", AUTH, body)
    assert (status, json.loads(answer)["field"]) == (400, "user_data")
    assert api.handle("GET", "/v1/vms/a", AUTH, b"")[0] == 404


def test_a_full_database_is_507_json_and_the_next_write_works(api, store):
    assert api.handle("PUT", "/v1/vms/a", AUTH, json.dumps(vm()).encode())[0] == 201
    pages = store.database.db.execute("PRAGMA page_count").fetchone()[0]
    store.database.db.execute(f"PRAGMA max_page_count = {pages + 1}")
    big = json.dumps(vm(mac="02:00:00:00:00:02", addresses=["10.0.0.6"], user_data="x" * 99999))
    status, headers, answer = api.handle("PUT", "/v1/vms/b", AUTH, big.encode())
    assert status == 507 and headers["Content-Type"] == "application/json"
    assert "full" in json.loads(answer)["error"]
    store.database.db.execute("PRAGMA max_page_count = 1073741823")
    assert api.handle("PUT", "/v1/vms/b", AUTH, big.encode())[0] == 201


def test_every_write_is_audited(api, caplog):
    caplog.set_level(logging.INFO, "nm_cloud_setup.service.audit")
    api.handle("PUT", "/v1/vms/a", AUTH, json.dumps(vm(user_data="secret")).encode(), "uid 0 pid 7")
    api.handle("PATCH", "/v1/vms/a", AUTH, b'{"hostname": "h", "ssh_keys": []}', "uid 0 pid 7")
    api.handle("PUT", "/v1/vms/b", AUTH, json.dumps(vm()).encode(), "10.1.2.3:4444")
    api.handle("DELETE", "/v1/vms/a", {}, b"", "10.9.9.9:1")
    api.handle("DELETE", "/v1/vms/a", AUTH, b"", "uid 0 pid 7")
    api.handle("GET", "/v1/vms", AUTH, b"", "uid 0 pid 7")  # a read: not audited
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    assert lines[0].startswith("audit: PUT /v1/vms/a by uid 0 pid 7: 201 created; instance_id i-")
    assert "200 changed: hostname, ssh_keys;" in lines[1]
    assert "by 10.1.2.3:4444: 409 refused: interfaces[0].mac: 02:00:00:00:00:01 is held" in lines[2]
    assert "DELETE /v1/vms/a by 10.9.9.9:1: 401 refused: no or a wrong bearer token" in lines[3]
    assert "DELETE /v1/vms/a by uid 0 pid 7: 204 deleted at 20" in lines[4]
    assert not any("secret" in line for line in lines)
