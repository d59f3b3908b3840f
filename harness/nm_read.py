"""What a sandbox's NetworkManager has applied, read over D-Bus with the project's reader,
and its profiles on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Tuple

from nm_cloud_setup.backends.nm.backend import NetworkManager
from nm_cloud_setup.errors import BackendError
from nm_cloud_setup.model import Current, IpConfig


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


def applied(sandbox) -> Dict[str, Tuple[int, IpConfig]]:
    """ifname -> (applied version id, applied config), read from NetworkManager."""
    return {name: (current.token.version_id, current.applied)
            for name, current in currents(sandbox).items()}


def profiles_on_disk(sandbox) -> Dict[str, str]:
    keyfiles = Path(sandbox.workdir) / "nm" / "keyfiles"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in keyfiles.iterdir()}
