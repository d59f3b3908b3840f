"""The service's HTTP listeners, on the standard library's ``http.server``.

The only module of the service that speaks HTTP: the metadata listeners (TCP,
one per ``--listen``) and the management API (TCP or a unix socket) each get a
thread-per-connection server.  Handlers are plain functions of the request, so
the server library stays replaceable (``bench/metadata_service.py`` measured the
choice; see the README).
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Mapping, Optional, Tuple

from nm_cloud_setup.shapes.common import Answer

BODY_LIMIT = 4 << 20


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    source: str  # the peer's address; "" on a unix socket


App = Callable[[Request], Answer]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nm-cloud-metadata"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_LIMIT:
            self._send(413, {"Content-Type": "text/plain"}, b"Request Entity Too Large\n")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        peer = self.client_address
        source = peer[0] if isinstance(peer, tuple) and peer else ""
        status, headers, payload = self.server.app(
            Request(self.command, self.path, self.headers, body, source))
        self._send(status, headers, b"" if self.command == "HEAD" else payload, len(payload))

    do_GET = do_HEAD = do_PUT = do_PATCH = do_POST = do_DELETE = _dispatch  # noqa: N815

    def _send(self, status: int, headers, body: bytes, length: Optional[int] = None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)


class TcpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: Tuple[str, int], app: App) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.app = app

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-request


class UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, path: str, app: App) -> None:
        if os.path.exists(path) and not os.path.isfile(path):
            os.unlink(path)  # a socket left by an earlier run
        old = os.umask(0o177)  # 0600: the socket's owner only (root, or the service user)
        try:
            super().__init__(path, _Handler)
        finally:
            os.umask(old)
        self.app = app

    def handle_error(self, request, client_address) -> None:
        pass

    def server_close(self) -> None:
        super().server_close()
        try:
            os.unlink(self.server_address)
        except OSError:
            pass


Server = socketserver.BaseServer


def listen(address: str, app: App) -> Server:
    """A server for ``HOST:PORT`` (``[V6]:PORT`` too) or ``unix:PATH``; not yet serving."""
    if address.startswith("unix:"):
        return UnixServer(address[len("unix:"):], app)
    host, port = split_address(address)
    return TcpServer((host, port), app)


def split_address(address: str) -> Tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{address!r} is not HOST:PORT (or unix:PATH)")
    return host.strip("[]"), int(port)


def bound(server: Server) -> str:
    """Where a server listens, as ``listen`` takes it."""
    address = server.server_address
    if isinstance(address, str):
        return f"unix:{address}"
    host = address[0]
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


def serve(servers: List[Server], stop: threading.Event) -> None:
    """Serve until ``stop`` is set, then close every listener."""
    threads = [threading.Thread(target=s.serve_forever, args=(0.2,), daemon=True)
               for s in servers]
    for thread in threads:
        thread.start()
    try:
        stop.wait()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
