"""The service's HTTP listeners, on aiohttp: the only module that imports it.

Chosen on ``bench/metadata_service.py`` (200 VMs crawling their trees at once):
against the standard library's ``http.server`` it served 1.35x the requests per
second with a third lower p99 latency, for about 17 MiB more memory
(docs/metadata-service.md, "Performance, and the choice of aiohttp").  The
handlers are plain functions of a request, so the server stays replaceable: the
benchmark runs the same handlers on ``http.server`` (``bench/stdlib_server.py``)
to keep the comparison honest.

Sockets are bound when a listener is made (errors show before serving); the
metadata handler runs on the event loop (it reads a snapshot, no I/O); the
management handler runs in a worker thread (SQLite writes wait for the disk).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from dataclasses import dataclass
from typing import List

from aiohttp import web

from nm_cloud_setup.service.request import App, Request, split_address

BODY_LIMIT = 4 << 20


@dataclass
class Listener:
    sock: socket.socket
    app: App
    blocking: bool  # run the handler in a worker thread

    def close(self) -> None:
        path = self.sock.getsockname() if self.sock.family == socket.AF_UNIX else None
        self.sock.close()
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass


def listen(address: str, app: App, blocking: bool = False) -> Listener:
    """Bind ``HOST:PORT`` (``[V6]:PORT`` too) or ``unix:PATH`` now; serve later."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if os.path.exists(path) and not os.path.isfile(path):
            os.unlink(path)  # a socket left by an earlier run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # 0600: the socket's owner only (root, or the service user)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
    else:
        host, port = split_address(address)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bind even before the address is up (the bridge may come later), as a
        # unit started at boot must.
        sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_FREEBIND", 15), 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
    sock.listen(1024)
    return Listener(sock, app, blocking)


def bound(listener: Listener) -> str:
    """Where a listener listens, as ``listen`` takes it."""
    address = listener.sock.getsockname()
    if isinstance(address, str):
        return f"unix:{address}"
    host = address[0]
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


def _application(listener: Listener) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        source = peer[0] if isinstance(peer, tuple) and peer else ""
        call = Request(request.method, request.raw_path, request.headers, body, source)
        if listener.blocking:
            answer = await asyncio.get_running_loop().run_in_executor(None, listener.app, call)
        else:
            answer = listener.app(call)
        status, headers, payload = answer
        return web.Response(status=status, headers=headers, body=payload)

    application = web.Application(client_max_size=BODY_LIMIT)
    application.router.add_route("*", "/{tail:.*}", handle)
    return application


async def _serve(listeners: List[Listener], stop: threading.Event) -> None:
    runners = []
    try:
        for listener in listeners:
            runner = web.AppRunner(_application(listener), access_log=None,
                                   handle_signals=False)
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, listener.sock).start()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    finally:
        for runner in runners:
            await runner.cleanup()


def serve(listeners: List[Listener], stop: threading.Event) -> None:
    """Serve until ``stop`` is set, then close every listener."""
    try:
        asyncio.run(_serve(listeners, stop))
    finally:
        for listener in listeners:
            listener.close()
