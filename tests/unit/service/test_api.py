"""The management API (service/api.py): its token, and each method on a VM."""

from __future__ import annotations

import json

from nm_cloud_setup.service.api import ManagementApi
from tests.support.vm_documents import vm


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
