"""What a sandbox's NetworkManager has applied, read with a client that is not this
project's: systemd's ``busctl --json``, parsed here on its own.

The end-to-end tests judge the tool by this, so that an error shared by the tool's
settings translation (backends/nm/settings.py) and a reader built on it cannot pass
unseen.  Nothing here imports the tool.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
DEVICE = "org.freedesktop.NetworkManager.Device"

# A route or rule: its keys and values as NetworkManager holds them, sorted by key,
# each value with its D-Bus type: (("dest", "s", "10.0.0.0"), ("metric", "u", 200), ...)
Entry = Tuple[Tuple[str, str, Any], ...]


@dataclass(frozen=True)
class Family:
    """One family's section (``ipv4``, ``ipv6``) of an applied connection."""

    method: Optional[str] = None
    addresses: Tuple[str, ...] = ()  # "ADDRESS/PREFIX", in NetworkManager's order
    routes: Tuple[Entry, ...] = ()
    rules: Tuple[Entry, ...] = ()
    dns: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Applied:
    """A device's applied connection and its version id."""

    version_id: int
    uuid: str
    ipv4: Family
    ipv6: Family
    mtu: Optional[int]  # None: the setting is absent or 0 (the device's own)

    @property
    def dns(self) -> Tuple[str, ...]:
        return self.ipv4.dns + self.ipv6.dns

    def family(self, family: int) -> Family:
        return self.ipv4 if family == 4 else self.ipv6


def entry(**values: Tuple[str, Any]) -> Entry:
    """An expected route or rule: ``entry(dest=("s", "0.0.0.0"), table=("u", 30200))``.
    Keys with dashes are given with underscores, ``from`` as ``from_``."""
    return tuple(sorted((key.rstrip("_").replace("_", "-"), sig, value)
                        for key, (sig, value) in values.items()))


def busctl(sandbox, *args: str) -> Optional[Any]:
    """``busctl --json=short ARGS`` on the sandbox's bus; None when the call fails."""
    proc = subprocess.run(["busctl", "--system", "--json=short", *args], capture_output=True,
                          text=True, env=sandbox.env(), timeout=30)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def devices(sandbox) -> Dict[str, str]:
    """ifname -> device object path."""
    listed = busctl(sandbox, "get-property", NM, NM_PATH, NM, "Devices")
    result = {}
    for path in (listed or {}).get("data", []):
        name = busctl(sandbox, "get-property", NM, path, DEVICE, "Interface")
        if name is not None:
            result[name["data"]] = path
    return result


def applied(sandbox) -> Dict[str, Applied]:
    """ifname -> its applied connection, for every device that has one."""
    result = {}
    for name, path in devices(sandbox).items():
        answer = busctl(sandbox, "call", NM, path, DEVICE, "GetAppliedConnection", "u", "0")
        if answer is None:  # no applied connection (or gone meanwhile)
            continue
        if answer.get("type") != "a{sa{sv}}t":
            raise ValueError(f"GetAppliedConnection answered {answer.get('type')}")
        settings, version_id = answer["data"]
        result[name] = parse(settings, version_id)
    return result


def parse(settings: Dict[str, Dict[str, Any]], version_id: int) -> Applied:
    """busctl's JSON of a connection (each value ``{"type": SIG, "data": ...}``)."""
    wired = settings.get("802-3-ethernet", {})
    mtu = _data(wired.get("mtu")) or None
    return Applied(version_id, _data(settings.get("connection", {}).get("uuid")) or "",
                   _family(settings.get("ipv4", {}), 4), _family(settings.get("ipv6", {}), 6),
                   mtu)


def _data(value: Optional[Dict[str, Any]]) -> Any:
    return None if value is None else value["data"]


def _family(section: Dict[str, Any], family: int) -> Family:
    addresses = tuple(f"{_data(a['address'])}/{_data(a['prefix'])}"
                      for a in _data(section.get("address-data")) or [])
    return Family(_data(section.get("method")), addresses,
                  tuple(_entry(r) for r in _data(section.get("route-data")) or []),
                  tuple(_entry(r) for r in _data(section.get("routing-rules")) or []),
                  _dns(section, family))


def _entry(item: Dict[str, Dict[str, Any]]) -> Entry:
    return tuple(sorted((key, value["type"], _frozen(value["data"]))
                        for key, value in item.items()))


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


def _dns(section: Dict[str, Any], family: int) -> Tuple[str, ...]:
    """The name servers: ``dns-data`` (strings) where the daemon has it, else ``dns``:
    IPv4 as uint32 in network byte order, IPv6 as 16 bytes."""
    texts = _data(section.get("dns-data"))
    if texts is not None:
        return tuple(texts)
    raw: List[Any] = _data(section.get("dns")) or []
    if family == 4:
        return tuple(str(ipaddress.IPv4Address(int(n).to_bytes(4, sys.byteorder))) for n in raw)
    return tuple(str(ipaddress.IPv6Address(bytes(b))) for b in raw)
