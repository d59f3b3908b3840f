"""Fixtures shared by all tests: the emulator on loopback.

The sandbox VMs (a real NetworkManager, or the kernel alone, in a namespace) are
e2e/conftest.py's; the helpers the tests share are in tests/support/.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.server import EmulatorServer


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(("127.0.0.1", 0), scenarios.generate(2, 3)).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_emulator():
    """Start emulators of any provider's shape; all are stopped after the test."""
    servers = []

    def make(provider: str = "ec2", scenario=None) -> EmulatorServer:
        server = EmulatorServer(("127.0.0.1", 0), scenario or scenarios.generate(2, 3),
                                provider).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
