"""An in-memory backend: devices whose applied config lives in a dict, faults injected per
device (a refused Reapply, a version mismatch) for the pipeline's tests."""

from __future__ import annotations

from typing import List

from nm_cloud_setup.backends.base import Backend
from nm_cloud_setup.errors import ApplyError, VersionMismatchError
from nm_cloud_setup.model import Current, Device, Ipv4Config


class MemoryBackend(Backend):
    """Devices whose applied config lives in a dict; faults injected per device."""

    name = "memory"

    def __init__(self, mismatches: int = 0, refuse: str = "") -> None:
        self.applied = {}
        self.mismatches = mismatches
        self.refuse = refuse

    def current(self, device: Device) -> Current:
        return Current(f'"{device.ifname}"', Ipv4Config(),
                       self.applied.get(device.ifname, Ipv4Config()))

    def in_sync(self, current: Current, wanted: Ipv4Config) -> bool:
        return wanted.same_as(current.applied)

    def describe(self, device, current, wanted) -> List[str]:
        return [f"set {device.ifname}"]

    def apply(self, device: Device, current: Current, wanted: Ipv4Config) -> None:
        if device.ifname == self.refuse:
            raise ApplyError("Reapply refused (org.freedesktop.NetworkManager.Device.Failed)")
        if self.mismatches:
            self.mismatches -= 1
            raise VersionMismatchError("changed meanwhile")
        self.applied[device.ifname] = wanted

    def close(self) -> None:
        pass
