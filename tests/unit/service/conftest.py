"""The service's fixtures: a store in a temporary directory."""

from __future__ import annotations

import pytest

from nm_cloud_setup.service.store import Store


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "vms.db")
    yield store
    store.close()
