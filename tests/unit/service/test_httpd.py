"""The service's HTTP listeners (service/httpd.py), on loopback: VMs told apart by source
address (any 127.0.0.0/8 address is local on Linux), the API on its own listener and
token, the caps and deadlines of a connection; ``e2e/test_service*.py`` do it with VM
namespaces, real routing and real clients."""

from __future__ import annotations

import http.client
import socket
import time

import pytest

from harness.lab import api_request
from nm_cloud_setup.service import cli
from nm_cloud_setup.service.guard import Limits
from tests.support.vm_documents import vm
from tests.unit.service.conftest import TOKEN


def _get(port: int, path: str, source: str, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _register(api: str, count: int = 2) -> None:
    for n in range(1, count + 1):
        body = vm(mac=f"02:00:00:00:00:0{n}", addresses=[f"127.0.0.{10 + n}"],
                  subnet="127.0.0.0/8", hostname=f"vm{n}")
        assert api_request(api, "PUT", f"/v1/vms/vm{n}", body, token=TOKEN)[0] == 201


def _raw(port: int, source: str, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.sendall(data)
    return sock


def _closed_after(sock: socket.socket, started: float, limit: float = 5.0) -> float:
    """Seconds from ``started`` until the service closes ``sock`` (reading what it says)."""
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    sock.close()
    return time.monotonic() - started


def test_listeners_tell_vms_apart_and_the_tcp_api_needs_its_token(tmp_path, served):
    with pytest.raises(ValueError, match="api-token-file"):
        cli.build(str(tmp_path / "db"), ("127.0.0.1:0",), "127.0.0.1:0", None, "optional")
    with pytest.raises(ValueError, match="share"):
        cli.build(str(tmp_path / "db"), ("127.0.0.1:8",), "127.0.0.1:8", TOKEN, "optional")
    port, api = served()
    assert api_request(api, "GET", "/v1/vms")[0] == 401
    assert api_request(api, "GET", "/v1/vms", token="wrong-token-0123456")[0] == 401
    _register(api)
    assert _get(port, "/latest/meta-data/hostname", "127.0.0.11") == (200, b"vm1")
    assert _get(port, "/latest/meta-data/hostname/", "127.0.0.12") == (200, b"vm2")
    assert _get(port, "/latest/meta-data/hostname", "127.0.0.13")[0] == 404
    assert _get(port, "/v1/vms", "127.0.0.11")[0] == 404  # no API on the metadata port


def test_a_vm_over_its_connections_gets_429_and_closed(served):
    port, api = served(Limits(per_vm=2))
    _register(api)
    held = [_raw(port, "127.0.0.11"), _raw(port, "127.0.0.11"), _raw(port, "127.0.0.12")]
    third = _raw(port, "127.0.0.11")  # vm1's third
    third.settimeout(5)
    assert third.recv(200).startswith(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1")
    assert _get(port, "/latest/meta-data/hostname", "127.0.0.12") == (200, b"vm2")
    for sock in held + [third]:
        sock.close()


def test_header_and_idle_deadlines(served):
    port, api = served(Limits(header_timeout=0.5, idle_timeout=1.0))
    _register(api)
    started = time.monotonic()
    slow = _raw(port, "127.0.0.11", b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n")
    idle = _raw(port, "127.0.0.11")
    assert 0.4 < _closed_after(slow, started) < 1.5
    assert 0.9 < _closed_after(idle, started) < 2.0
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=("127.0.0.11", 0))
    kept.request("GET", "/latest/meta-data/hostname")  # answered: idle again, for 1 s
    assert kept.getresponse().read() == b"vm1"
    started = time.monotonic()
    assert 0.9 < _closed_after(kept.sock, started) < 2.0


def test_a_body_is_refused_unread_and_so_is_an_api_request_without_its_token(served):
    port, api = served()
    _register(api)
    sock = _raw(port, "127.0.0.11", b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n"
                b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 4194304\r\n"
                b"Expect: 100-continue\r\n\r\n")
    assert sock.recv(200).startswith(b"HTTP/1.1 413 ")  # no "100 Continue" first
    assert _closed_after(sock, time.monotonic()) < 1
    host, _, api_port = api.rpartition(":")
    sock = socket.create_connection((host, int(api_port)), timeout=5)
    sock.sendall(b"PUT /v1/vms/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
    assert sock.recv(200).startswith(b"HTTP/1.1 401 ")  # before a byte of the body
    sock.close()
    sock = socket.create_connection((host, int(api_port)), timeout=5)
    sock.sendall(b"PUT /v1/vms/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n"
                 b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n")
    assert sock.recv(200).startswith(b"HTTP/1.1 413 ")  # too large: unread too
    sock.close()
