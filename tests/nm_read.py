"""What a sandbox's NetworkManager has applied, read over D-Bus with the project's reader."""

from __future__ import annotations

from typing import Dict

from nm_cloud_setup.backends.nm.backend import NetworkManager
from nm_cloud_setup.errors import BackendError
from nm_cloud_setup.model import Current


def currents(sandbox) -> Dict[str, Current]:
    """ifname -> what is applied, for every device that has an applied connection."""
    nm = NetworkManager(sandbox.bus_address)
    nm.connect()
    try:
        result = {}
        for device in nm.devices({}):
            try:
                result[device.ifname] = nm.current(device)
            except BackendError:  # no applied connection (or gone meanwhile)
                continue
        return result
    finally:
        nm.close()
