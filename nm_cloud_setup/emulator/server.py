"""The metadata-service emulator: one scenario served in a cloud's API shape.

Control API (JSON), under ``/emulator/``:
- ``GET|PUT /emulator/scenario``: read or replace the scenario (live changes);
- ``GET /emulator/stats``: ``{"requests": N, "paths": {path: count}}``;
  ``POST /emulator/stats/reset``;
- ``PUT /emulator/faults``: ``{"latency": SECONDS, "rules": [{"match": "substring
  of the path", "status": 503, "times": 2, "delay": 1.5, "body": "...",
  "headers": {...}, "hang": false}]}``: a request whose path contains ``match``
  gets that answer (``times`` times, or always when absent).
Control requests are not counted.

A scenario with ``"upstream_only": true`` (``--upstream-only``) is served only on
the paths upstream's nm-cloud-setup requests, in the shapes it parses; every other
request gets 404 (no one-request documents, no ``device-number``, no tokens where
upstream uses none).
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import NOT_FOUND, Answer
from nm_cloud_setup.providers import registry


def api_class(provider: str) -> type:
    """A cloud's API as the emulator serves it: ``emulator/<key>.py``'s ``<cls>Api``, the
    class named after the provider's (``providers/registry.py``)."""
    name = f"{registry.BY_KEY[provider].cls}Api"  # KeyError for a cloud that is not one
    return getattr(importlib.import_module(f"nm_cloud_setup.emulator.{provider}"), name)


class EmulatorState:
    def __init__(self, scenario: Dict[str, Any], provider: str) -> None:
        self.lock = threading.Lock()
        self.scenario = scenarios.validate(scenario)
        self.api = api_class(provider)(self)
        self.requests = 0
        self.throttled = 0
        self.paths: Dict[str, int] = {}
        self.latency = 0.0
        self.rules: list = []

    def fault_for(self, path: str) -> Optional[Dict[str, Any]]:
        with self.lock:
            for rule in self.rules:
                if rule.get("match", "") in path and rule.get("times", 1) != 0:
                    if "times" in rule:
                        rule["times"] -= 1
                    return dict(rule)
        return None


class _Handler(BaseHTTPRequestHandler):
    server: "EmulatorServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/emulator/"):
            self._send(*self._control(method, self.path, body))
            return
        with state.lock:
            state.requests += 1
            state.paths[self.path] = state.paths.get(self.path, 0) + 1
        if state.latency:
            time.sleep(state.latency)
        fault = state.fault_for(self.path)
        if fault is not None:
            self._fault(fault)
            return
        with state.lock:
            request = (method, self.path)
            if state.scenario.get("upstream_only") and request not in state.api.upstream:
                answer = NOT_FOUND
            else:
                answer = state.api.handle(method, self.path, self.headers)
        self._send(*answer)

    def _fault(self, fault: Dict[str, Any]) -> None:
        time.sleep(float(fault.get("delay", 0)))
        if fault.get("hang"):
            time.sleep(float(fault.get("hang_seconds", 30)))
            self.close_connection = True
            return
        body = fault.get("body", "").encode("latin-1")
        headers = {"Content-Type": "text/plain", **fault.get("headers", {})}
        if "Content-Length" in headers:  # a body cut short: close after it
            self.close_connection = True
        self._send(int(fault.get("status", 500)), headers, body)

    def _control(self, method: str, path: str, body: bytes) -> Answer:
        state = self.server.state
        try:
            payload = json.loads(body) if body else None
            with state.lock:
                if path == "/emulator/scenario" and method == "PUT":
                    state.scenario = scenarios.validate(payload)
                elif path == "/emulator/faults" and method == "PUT":
                    state.latency = float(payload.get("latency", 0))
                    state.rules = list(payload.get("rules", []))
                elif path == "/emulator/stats/reset" and method == "POST":
                    state.requests = 0
                    state.throttled = 0
                    state.paths = {}
                elif not (method == "GET" and path in ("/emulator/scenario", "/emulator/stats")):
                    return NOT_FOUND
                result = (state.scenario if path == "/emulator/scenario"
                          else {"requests": state.requests, "throttled": state.throttled,
                                "paths": state.paths})
        except (ValueError, TypeError, AttributeError) as err:
            return 400, {"Content-Type": "application/json"}, json.dumps(
                {"error": str(err)}).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    def _send(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of clients that open more
    # connections at once (upstream opens one per request): a 1 s retransmit each.
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], scenario: Dict[str, Any],
                 provider: str = "ec2") -> None:
        super().__init__(address, _Handler)
        self.state = EmulatorState(scenario, provider)

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up (timeouts, size caps) is part of the tests

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "EmulatorServer":
        """Serve in a background thread (for tests); ``shutdown()`` stops it."""
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()
        return self
