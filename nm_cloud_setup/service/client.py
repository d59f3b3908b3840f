"""The management API from the client's side: one request to ``unix:PATH`` or
``HOST:PORT`` (``http.client``, no third-party library)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Optional, Tuple

from nm_cloud_setup.service.request import split_address


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(api: str, method: str, path: str, body: Any = None, token: Optional[str] = None,
            raw: Optional[bytes] = None, timeout: float = 30) -> Tuple[int, Any]:
    """(status, the JSON answer or None); OSError when the API cannot be reached."""
    if api.startswith("unix:"):
        conn: http.client.HTTPConnection = _UnixConnection(api[5:], timeout)
    else:
        host, port = split_address(api)
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
    except http.client.HTTPException as err:
        raise OSError(f"the API answered no HTTP ({type(err).__name__})") from None
    finally:
        conn.close()
    try:
        return response.status, (json.loads(payload) if payload.strip() else None)
    except ValueError:
        return response.status, {"error": payload[:200].decode(errors="replace"),
                                 "field": None}
