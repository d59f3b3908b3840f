"""The metadata service's handlers on the standard library's ``http.server``: the
baseline that ``bench/metadata_service.py`` measures the shipped server (aiohttp)
against.  Thread per connection, as ``ThreadingHTTPServer`` does.

  python bench/stdlib_server.py --db FILE --listen HOST:PORT --api unix:PATH
"""

from __future__ import annotations

import os
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nm_cloud_setup.service.request import App, Request, split_address

BODY_LIMIT = 4 << 20


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


def main() -> None:
    import argparse
    import signal

    from nm_cloud_setup.service.cli import handlers
    from nm_cloud_setup.service.store import Store

    parser = argparse.ArgumentParser()
    for option in ("--db", "--listen", "--api"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()
    metadata, management = handlers(Store(args.db), "optional", None)
    host, port = split_address(args.listen)
    servers = [TcpServer((host, port), metadata), UnixServer(args.api[len("unix:"):], management)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
