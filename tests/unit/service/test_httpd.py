"""The service's HTTP listeners (service/httpd.py), on loopback: VMs told apart by source
address (any 127.0.0.0/8 address is local on Linux), the API on its own listener and
token; ``e2e/test_service.py`` does it with VM namespaces, real routing and real clients."""

from __future__ import annotations

import http.client
import threading

import pytest

from harness.lab import api_request
from nm_cloud_setup.service import cli, httpd
from tests.support.vm_documents import vm


def _get(port: int, path: str, source: str, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_listeners_tell_vms_apart_and_the_tcp_api_needs_its_token(tmp_path):
    token = "t0k3n-0123456789abcdef"
    with pytest.raises(ValueError, match="api-token-file"):
        cli.build(str(tmp_path / "db"), ("127.0.0.1:0",), "127.0.0.1:0", None, "optional")
    with pytest.raises(ValueError, match="share"):
        cli.build(str(tmp_path / "db"), ("127.0.0.1:8",), "127.0.0.1:8", token, "optional")
    store, servers = cli.build(str(tmp_path / "db"), ("127.0.0.1:0",), "127.0.0.1:0", token,
                               "optional")
    stop = threading.Event()
    thread = threading.Thread(target=httpd.serve, args=(servers, stop))
    thread.start()
    try:
        metadata, api = (httpd.bound(s) for s in servers)
        assert api_request(api, "GET", "/v1/vms")[0] == 401
        assert api_request(api, "GET", "/v1/vms", token="wrong-token-0123456")[0] == 401
        for n in (1, 2):
            body = vm(mac=f"02:00:00:00:00:0{n}", addresses=[f"127.0.0.{10 + n}"],
                      subnet="127.0.0.0/8", hostname=f"vm{n}")
            assert api_request(api, "PUT", f"/v1/vms/vm{n}", body, token=token)[0] == 201
        port = int(metadata.rpartition(":")[2])
        assert _get(port, "/latest/meta-data/hostname", "127.0.0.11") == (200, b"vm1")
        assert _get(port, "/latest/meta-data/hostname/", "127.0.0.12") == (200, b"vm2")
        assert _get(port, "/latest/meta-data/hostname", "127.0.0.13")[0] == 404
        assert _get(port, "/v1/vms", "127.0.0.11")[0] == 404  # no API on the metadata port
    finally:
        stop.set()
        thread.join()
        store.close()
