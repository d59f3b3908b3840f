"""The management API (JSON), never on a metadata listener.

``PUT /v1/vms/NAME`` creates (201) or replaces (200) a VM; ``PATCH`` merges into
one; ``GET /v1/vms/NAME``, ``GET /v1/vms`` (``{"vms": {NAME: VM}}``), ``DELETE``
(204); ``GET /v1/health``.  Errors are ``{"error": TEXT, "field": FIELD}`` with
400 (bad input), 401 (no or wrong token), 404, 409 (held by another VM).  With a
token, every request needs ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Dict, Mapping, Optional

from nm_cloud_setup.service.store import Store
from nm_cloud_setup.service.vms import VmError, check_name
from nm_cloud_setup.shapes.common import Answer

BODY_LIMIT = 2 << 20


def _json(value: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> Answer:
    body = json.dumps(value, indent=1).encode() + b"\n"
    return status, {"Content-Type": "application/json", **(headers or {})}, body


def _error(status: int, message: str, field: Optional[str] = None) -> Answer:
    return _json({"error": message, "field": field}, status)


class ManagementApi:
    def __init__(self, store: Store, token: Optional[str] = None) -> None:
        self.store = store
        self.token = token

    def authorized(self, headers: Mapping[str, str]) -> bool:
        if self.token is None:
            return True
        given = headers.get("Authorization") or ""
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> Answer:
        if not self.authorized(headers):
            return _json({"error": "missing or wrong bearer token", "field": None}, 401,
                         {"WWW-Authenticate": 'Bearer realm="nm-cloud-metadata"'})
        path = path.split("?", 1)[0]
        if path == "/v1/health":
            return _json({"status": "ok"}) if method == "GET" else _error(405, "GET only")
        if path == "/v1/vms":
            return _json({"vms": self.store.all()}) if method == "GET" else _error(
                405, "GET only")
        if not path.startswith("/v1/vms/"):
            return _error(404, f"no such resource: {path[:100]}")
        try:
            return self._vm(method, check_name(path[len("/v1/vms/"):]), body)
        except VmError as err:
            return _json(err.as_json(), err.status)

    def _vm(self, method: str, name: str, body: bytes) -> Answer:
        if method == "GET":
            vm = self.store.get(name)
            return _json(vm) if vm is not None else _error(404, f"no VM {name!r}")
        if method == "DELETE":
            return (204, {}, b"") if self.store.delete(name) else _error(404, f"no VM {name!r}")
        if method not in ("PUT", "PATCH"):
            return _error(405, "GET, PUT, PATCH or DELETE")
        if len(body) > BODY_LIMIT:
            return _error(413, f"the body is larger than {BODY_LIMIT} bytes")
        try:
            payload = json.loads(body)
        except ValueError as err:
            return _error(400, f"the body is not JSON: {err}")
        if method == "PUT":
            vm, created = self.store.put(name, payload)
            return _json(vm, 201 if created else 200)
        try:
            return _json(self.store.patch(name, payload))
        except KeyError:
            return _error(404, f"no VM {name!r}")
