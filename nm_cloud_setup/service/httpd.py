"""The service's HTTP listeners, on aiohttp: the only module that imports it.

Chosen on ``bench/metadata_service.py`` (200 VMs crawling their trees at once):
against the standard library's ``http.server`` it served 1.35x the requests per
second with a third lower p99 latency, for about 17 MiB more memory
(docs/metadata-service.md, "Performance").  The handlers are plain functions of a
request, so the server stays replaceable: the benchmark runs the same handlers on
``http.server`` (``bench/stdlib_server.py``) to keep the comparison honest.

Each connection passes through ``_Connection`` before aiohttp sees a byte of it: on
a metadata listener it is counted against the caps of ``guard`` (per VM, in all; over
a cap it gets 429 and is closed), and on every listener it has deadlines: a request's
headers must be complete within ``header_timeout`` of its first byte, a connection
with no request under way is closed after ``idle_timeout``, and no more than
``max_head`` bytes may come before a request's headers end.  Metadata requests are
answered without reading a body (aiohttp never lingers to drain one); API requests
are refused (no or a wrong token) before theirs is read.

Sockets are bound when a listener is made (errors show before serving); the
metadata handler runs on the event loop (it reads a snapshot, no I/O); the
management handler runs in a worker thread (database writes wait for the disk or
the network).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from aiohttp import web

from nm_cloud_setup.service.guard import Guard, Limits
from nm_cloud_setup.service.logs import ACCESS, printable, report
from nm_cloud_setup.service.request import CLOSE, HOP_LIMIT, App, Request, split_address
from nm_cloud_setup.shapes.common import Answer

LOG = logging.getLogger("nm_cloud_setup.service")
BACKLOG = 4096
_OVER_CAP = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
             b"Connection: close\r\n\r\n")


@dataclass
class Listener:
    sock: socket.socket
    app: App
    blocking: bool  # run the handler in a worker thread
    guard: Optional[Guard] = None  # a metadata listener's connection caps
    refusal: Optional[App] = None  # answers a request before its body is read, or None
    body_limit: int = 0  # bytes of a body read at most (0: bodies are never read)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        self.path = self.sock.getsockname() if self.sock.family == socket.AF_UNIX else None

    def close(self) -> None:
        """Close the socket (asyncio may have done it) and remove a unix socket's file."""
        self.sock.close()
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None


def listen(address: str, app: App, blocking: bool = False, **options: Any) -> Listener:
    """Bind ``HOST:PORT`` (``[V6]:PORT`` too) or ``unix:PATH`` now; serve later.
    ``options``: Listener's ``guard``, ``refusal``, ``body_limit``, ``limits``."""
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
    sock.listen(BACKLOG)
    return Listener(sock, app, blocking, **options)


def bound(listener: Listener) -> str:
    """Where a listener listens, as ``listen`` takes it."""
    address = listener.sock.getsockname()
    if isinstance(address, str):
        return f"unix:{address}"
    host = address[0]
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


def _peer(transport: asyncio.BaseTransport) -> tuple:
    """(source address, who): ("10.0.0.5", "10.0.0.5:4711"), or on a unix socket
    ("", "uid 0 pid 42") from the peer's credentials."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return peer[0], f"{peer[0]}:{peer[1]}"
    sock = transport.get_extra_info("socket")
    try:
        pid, uid, _ = struct.unpack("3i", sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        return "", f"uid {uid} pid {pid}"
    except (OSError, AttributeError):
        return "", "a unix socket peer"


class _Connection(asyncio.Protocol):
    """One connection: caps and deadlines in front of aiohttp's own protocol."""

    def __init__(self, inner: Callable[[], Any], listener: Listener,
                 registry: Dict[Any, "_Connection"]) -> None:
        self.make_inner = inner
        self.listener = listener
        self.limits = listener.limits
        self.registry = registry
        self.inner: Any = None
        self.transport: Any = None
        self.loop = asyncio.get_running_loop()
        self.key: Optional[str] = None
        self.busy = False
        self.closing = False  # its last answer closes it: what still comes is dropped
        self.received = 0
        self.deadline = 0.0  # loop time when ``sweep`` closes it (0: none)
        self.waiting = ""  # what for: "idle" or "headers"
        self.source = self.who = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.source, self.who = _peer(transport)
        guard = self.listener.guard
        if guard is not None:
            self.key = guard.connect(self.source)
            if self.key is None:
                key = guard.key(self.source)
                report(key or "stranger", "connections", "%s (%s): over its cap of open "
                       "connections: closed", f"VM {key}" if key else "a stranger", self.source)
                transport.write(_OVER_CAP)
                transport.close()
                return
        self.registry[transport] = self
        self.inner = self.make_inner()
        self.inner.connection_made(transport)
        self._arm(self.limits.idle_timeout, "idle")

    def data_received(self, data: bytes) -> None:
        if self.inner is None or self.closing:
            return
        if not self.busy:
            if not self.received:
                self._arm(self.limits.header_timeout, "headers")
            self.received += len(data)
            if self.received > self.limits.max_head + self.listener.body_limit:
                self._drop("head", f"sent more than {self.limits.max_head} bytes before its "
                           "headers ended")
                return
        self.inner.data_received(data)

    def eof_received(self) -> Optional[bool]:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.deadline = 0.0
        self.registry.pop(self.transport, None)
        if self.key is not None and self.listener.guard is not None:
            self.listener.guard.disconnect(self.key)
            self.key = None
        if self.inner is not None:
            self.inner.connection_lost(exc)

    # -- called around each request's handler --------------------------------------

    def started(self) -> None:
        self.busy = True
        self.deadline = 0.0

    def finished(self) -> None:
        self.busy = False
        self.received = 0
        if not self.transport.is_closing():
            self._arm(self.limits.idle_timeout, "idle")

    def _arm(self, seconds: float, what: str) -> None:
        """Close the connection ``seconds`` from now (``sweep`` does it), unless re-armed."""
        self.deadline = self.loop.time() + seconds
        self.waiting = what

    def overdue(self, now: float) -> None:
        if self.deadline and now > self.deadline:
            seconds = self.limits.idle_timeout if self.waiting == "idle" else \
                self.limits.header_timeout
            self.deadline = 0.0
            self._drop(self.waiting, f"its {self.waiting} deadline ({seconds:g} s) passed")

    def _drop(self, kind: str, why: str) -> None:
        if kind != "idle":  # an idle keep-alive connection is no misbehaviour
            report(self.key or "stranger", kind, "%s (%s): %s: connection closed",
                   f"VM {self.key}" if self.key else "a stranger", self.source or self.who, why)
        self.transport.abort()


def _limit_hops(transport: Any, hops: int) -> None:
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
    try:  # IPv4, and IPv4-mapped peers of an IPv6 socket
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)
    except OSError:
        pass


def _application(listener: Listener, registry: Dict[Any, _Connection]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        conn = registry.get(request.transport)
        if conn is not None:
            conn.started()
        started = time.monotonic()
        try:
            answer = await _answer(request, conn)
        except Exception as err:  # a bug, never a traceback a client can repeat
            report("bug", type(err).__name__, "%s %s: %s: %s", request.method,
                   printable(request.raw_path, 100), type(err).__name__, printable(str(err)))
            answer = 500, {"Content-Type": "text/plain"}, b"Internal Server Error\n"
        finally:
            if conn is not None:
                conn.finished()
        status, headers, payload = answer
        headers = dict(headers)
        hops = headers.pop(HOP_LIMIT, None)
        if hops is not None:
            _limit_hops(request.transport, int(hops))
        response = web.Response(status=status, headers=headers, body=payload)
        if headers.get("Connection") == "close":
            response.force_close()
            if conn is not None:
                conn.closing = True
        if status != 429 and conn is not None:  # 429s are counted by report() instead
            ACCESS.info("access: %s %s %s %s %d %d %.1fms", conn.source or conn.who,
                        (conn.key or "-") if listener.guard else "api", request.method,
                        printable(request.raw_path), status, len(payload),
                        1000 * (time.monotonic() - started))
        return response

    async def _answer(request: web.Request, conn: Optional[_Connection]) -> Answer:
        call = Request(request.method, request.raw_path, request.headers, b"",
                       conn.source if conn is not None else "",
                       conn.who if conn is not None else "")
        if listener.refusal is not None:
            refused = listener.refusal(call)
            if refused is not None:
                return refused
        if listener.body_limit:
            if (request.content_length or 0) > listener.body_limit:  # refused unread
                return 413, {"Content-Type": "application/json", **CLOSE}, (
                    b'{"error": "the body is larger than %d bytes", "field": null}\n'
                    % listener.body_limit)
            try:
                body = await request.read()
            except web.HTTPException as err:  # 413: over client_max_size
                return err.status, {"Content-Type": "application/json"}, (
                    b'{"error": "the body is too large", "field": null}\n')
            except Exception as err:  # the client hung up mid-body
                report("api", "hangup", "%s: the body did not arrive whole (%s)", call.who,
                       type(err).__name__)
                return 400, {"Content-Type": "application/json", **CLOSE}, (
                    b'{"error": "the body did not arrive whole", "field": null}\n')
            call = Request(call.method, call.path, call.headers, body, call.source, call.who)
        if listener.blocking:
            return await asyncio.get_running_loop().run_in_executor(None, listener.app, call)
        return listener.app(call)

    async def no_continue(request: web.Request) -> None:
        """``Expect: 100-continue`` on a listener that reads no body: no 100, so the client
        waits for the answer (a 413) instead of sending its body."""

    application = web.Application(client_max_size=max(listener.body_limit, 1024))
    application.router.add_route("*", "/{tail:.*}", handle,
                                 expect_handler=None if listener.body_limit else no_continue)
    return application


async def _sweep(registry: Dict[Any, _Connection], every: float = 0.25) -> None:
    """Close the connections past their deadline: one look at all of them every 0.25 s,
    cheaper than a timer armed and cancelled three times a request."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        now = loop.time()
        for conn in list(registry.values()):
            conn.overdue(now)


async def _serve(listeners: List[Listener], stop: threading.Event) -> None:
    loop = asyncio.get_running_loop()
    registry: Dict[Any, _Connection] = {}
    sweeper = asyncio.ensure_future(_sweep(registry))
    runners, servers = [], []
    try:
        for listener in listeners:
            runner = web.AppRunner(_application(listener, registry), access_log=None,
                                   handle_signals=False, lingering_time=0,
                                   keepalive_timeout=listener.limits.idle_timeout)
            await runner.setup()
            runners.append(runner)
            servers.append(await loop.create_server(
                lambda inner=runner.server, listener=listener:
                _Connection(inner, listener, registry), sock=listener.sock, backlog=BACKLOG))
        await loop.run_in_executor(None, stop.wait)
    finally:
        sweeper.cancel()
        for server in servers:
            server.close()
        for runner in runners:
            if runner.server is not None:
                await runner.server.shutdown(1.0)
            await runner.cleanup()


def serve(listeners: List[Listener], stop: threading.Event) -> None:
    """Serve until ``stop`` is set, then close every listener."""
    try:
        asyncio.run(_serve(listeners, stop))
    finally:
        for listener in listeners:
            listener.close()
