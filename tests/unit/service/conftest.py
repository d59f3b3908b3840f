"""The service's fixtures: a store in a temporary directory, and the whole service on
loopback (``served``: its listeners bound to 127.0.0.1, serving in a thread)."""

from __future__ import annotations

import threading
from typing import Optional

import pytest

from nm_cloud_setup.service import cli, httpd
from nm_cloud_setup.service.guard import Limits
from nm_cloud_setup.service.store import Store

TOKEN = "t0k3n-0123456789abcdef"


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "vms.db")
    yield store
    store.close()


@pytest.fixture
def served(tmp_path):
    """``served(limits)``: (metadata port, API address); any VM's address is in 127/8."""
    running = []

    def serve(limits: Optional[Limits] = None, api: str = "127.0.0.1:0"):
        store, listeners = cli.build(str(tmp_path / "served.db"), ("127.0.0.1:0",), api, TOKEN,
                                     "optional", limits)
        stop = threading.Event()
        thread = threading.Thread(target=httpd.serve, args=(listeners, stop))
        thread.start()
        running.append((store, stop, thread))
        metadata, api_address = (httpd.bound(listener) for listener in listeners)
        return int(metadata.rpartition(":")[2]), api_address

    yield serve
    for store, stop, thread in running:
        stop.set()
        thread.join()
        store.close()
