"""The management API (JSON), never on a metadata listener.

``PUT /v1/vms/NAME`` creates (201) or replaces (200) a VM; ``PATCH`` merges into
one; ``GET /v1/vms/NAME``, ``GET /v1/vms`` (``{"vms": {NAME: VM}}``), ``DELETE``
(204); ``GET /v1/health``.  Errors are ``{"error": TEXT, "field": FIELD}`` with
400 (bad input), 401 (no or wrong token), 404, 409 (held by another VM), 413 (body
too large), 503 (the database is unavailable) or 507 (the database is full); after
any of them nothing is stored, and the next request works.  With a token, every
request needs ``Authorization: Bearer TOKEN``.

Every write (PUT, PATCH, DELETE), refused or not, leaves one audit line: who (the
peer: uid and pid on the unix socket, address and port over TCP), what (method, VM,
the fields it changed), the answer, and when.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import Any, Dict, List, Mapping, Optional

from nm_cloud_setup.service.db import StoreError
from nm_cloud_setup.service.store import Store
from nm_cloud_setup.service.vms import VmError, check_name, shown
from nm_cloud_setup.shapes.common import Answer

AUDIT = logging.getLogger("nm_cloud_setup.service.audit")
NOTICE = 25  # between INFO and WARNING: the journal's "notice"
BODY_LIMIT = 2 << 20
MAX_DEPTH = 16  # a VM nests 4 deep ({"interfaces": [{"addresses": [...]}]})
WRITES = ("PUT", "PATCH", "DELETE")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class BadBody(ValueError):
    """A body that is not a JSON document this API reads."""


def parse_body(body: bytes) -> Any:
    """The JSON document in ``body``: UTF-8, nested at most MAX_DEPTH deep (checked
    before parsing: the parser recurses), else BadBody."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadBody(f"the body is not UTF-8 (byte {err.start})") from None
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise BadBody(f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise BadBody(f"the body is not JSON: {err}") from None


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
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                   f"Bearer {self.token}".encode())

    def refusal(self, method: str, path: str, headers: Mapping[str, str],
                who: str = "") -> Optional[Answer]:
        """The answer to a request that is refused before its body is read (no or a
        wrong token), else None."""
        if self.authorized(headers):
            return None
        if method in WRITES:
            _audit(method, path, who, 401, "refused: no or a wrong bearer token")
        return _json({"error": "missing or wrong bearer token", "field": None}, 401,
                     {"WWW-Authenticate": 'Bearer realm="nm-cloud-metadata"'})

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes, who: str = "") -> Answer:
        refused = self.refusal(method, path, headers, who)
        if refused is not None:
            return refused
        path = path.split("?", 1)[0]
        notes: List[str] = []
        try:
            answer = self._route(method, path, body, notes)
        except VmError as err:
            notes.append(f"refused: {err}")
            answer = _json(err.as_json(), err.status)
        except StoreError as err:
            notes.append(f"failed: {err}")
            answer = _error(err.status, str(err))
        if method in WRITES:
            _audit(method, path, who, answer[0], "; ".join(notes))
        return answer

    def _route(self, method: str, path: str, body: bytes, notes: List[str]) -> Answer:
        if path == "/v1/health":
            return _json({"status": "ok", "vms": self.store.count()}) if method == "GET" \
                else _error(405, "GET only")
        if path == "/v1/vms":
            return _json({"vms": self.store.all()}) if method == "GET" else _error(
                405, "GET only")
        if not path.startswith("/v1/vms/"):
            return _error(404, f"no such resource: {shown(path, 100)}")
        return self._vm(method, check_name(path[len("/v1/vms/"):]), body, notes)

    def _vm(self, method: str, name: str, body: bytes, notes: List[str]) -> Answer:
        if method == "GET":
            vm = self.store.get(name)
            return _json(vm) if vm is not None else _error(404, f"no VM {name!r}")
        if method == "DELETE":
            if self.store.delete(name):
                notes.append("deleted")
                return 204, {}, b""
            return _error(404, f"no VM {name!r}")
        if method not in ("PUT", "PATCH"):
            return _error(405, "GET, PUT, PATCH or DELETE")
        if len(body) > BODY_LIMIT:
            return _error(413, f"the body is larger than {BODY_LIMIT} bytes")
        try:
            payload = parse_body(body)
        except BadBody as err:
            notes.append(f"refused: {err}")
            return _error(400, str(err))
        try:
            written = (self.store.put(name, payload) if method == "PUT"
                       else self.store.patch(name, payload))
        except KeyError:
            return _error(404, f"no VM {name!r}")
        notes.append(("created" if written.created else "changed: " +
                      (", ".join(written.changed) or "nothing")) +
                     f"; instance_id {written.vm['instance_id']}")
        return _json(written.vm, 201 if written.created else 200)


def _audit(method: str, path: str, who: str, status: int, note: str) -> None:
    """One line per write: who, what, the answer, when (UTC, to the second)."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    AUDIT.log(NOTICE, "audit: %s %s by %s: %d%s at %s", method, shown(path, 100)[1:-1],
              who or "unknown", status, f" {note}" if note else "", when)
