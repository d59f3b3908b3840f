"""What the NetworkManager backend gave each device, kept across NetworkManager restarts.

``Reapply`` changes a device at runtime only.  When NetworkManager restarts, it
activates the profile again and forgets those changes, yet leaves them in the
kernel: secondary addresses, rules and routes that it no longer knows, and so
would never remove (a rule sending an address that moved on to another NIC to the
old NIC's table; with preserve-external-ip, the address itself).  So the backend
records the cloud's entries it applied, per interface and connection, in
``STATE_DIR/RECORD``;
what NetworkManager has forgotten is handed back to it first, to be removed the
usual way.  Pure apart from ``load`` and ``save``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Dict, List, Optional, Set

from nm_cloud_setup.model import Address, IpConfig, Route, Rule
from nm_cloud_setup.planning import delta

LOG = logging.getLogger(__name__)

RECORD = "nm-applied.json"
_KINDS = {"address": Address, "route": Route, "rule": Rule}


@dataclass(frozen=True)
class Given:
    """What one interface's connection (by UUID) was given.  Another connection on the
    interface means the old one was deactivated, and NetworkManager took its entries.
    ``config.mtu``: the MTU this tool set on it, if any (``planning/mtu.recorded``)."""

    connection: str
    config: IpConfig


class Memory:
    """The record of one run, and the kernel's rules when they are needed (rarely: only
    when NetworkManager forgot something, so a default run never loads netlink)."""

    def __init__(self, state_dir: Optional[Path],
                 kernel: Optional[Callable[[], Any]] = None) -> None:
        self.state_dir = state_dir
        self._make_kernel = kernel
        self._kernel: Any = None
        self._records: Optional[Dict[str, Given]] = None

    def records(self) -> Dict[str, Given]:
        if self._records is None:
            self._records = load(self.state_dir)
        return self._records

    def given(self, ifname: str, connection: str) -> Optional[IpConfig]:
        """What the connection on ``ifname`` was given, if it is the one recorded."""
        given = self.records().get(ifname)
        return given.config if given is not None and given.connection == connection else None

    def still_there(self, lost: IpConfig) -> IpConfig:
        """``lost`` without the rules no longer in the kernel: handed back, they would be
        made anew.  Unchanged without a kernel to ask."""
        kernel = self._kernel_rules() if lost.rules else None
        if kernel is None:
            return lost
        return dataclasses.replace(lost, rules=tuple(r for r in lost.rules if r in kernel))

    def remove_leftovers(self, listed: Collection[str]) -> List[str]:
        """The rules recorded for interfaces that are gone (not ``listed``, no link), still
        in the kernel: NetworkManager forgot them in a restart, so they outlived the NIC.
        Removed from the kernel directly; the interfaces' names."""
        records = self.records()
        gone = [name for name in records if name not in listed]
        if not gone or self._make_kernel is None:
            return []
        kernel = self._kernel_rules() or set()
        gone = [name for name in gone if name not in self._kernel.links()]
        stale = [r for r in leftover_rules(records, gone) if r in kernel]
        self._kernel.delete(stale)
        self._records = {n: g for n, g in records.items() if n not in gone}
        save(self.state_dir, self._records)
        return sorted({n for n in gone for r in records[n].config.rules if r in set(stale)})

    def write(self, ifname: str, given: Given, ahead: bool = False) -> None:
        """Record what ``ifname`` is given; ``ahead`` (before applying): together with what
        it had, so that the record never holds less than the device."""
        records = self.records()
        before = records.get(ifname)
        if ahead and before is not None and before.connection == given.connection:
            given = Given(given.connection, delta.merged(before.config, given.config))
        new = {**records, ifname: given}
        save(self.state_dir, new)
        if not ahead:
            self._records = new

    def _kernel_rules(self) -> Optional[Set[Rule]]:
        if self._make_kernel is None:
            return None
        if self._kernel is None:
            self._kernel = self._make_kernel()
        return set(self._kernel.rules())



def forgotten(recorded: IpConfig, applied: IpConfig,
              present: Collection[str]) -> IpConfig:
    """What this tool gave the device that NetworkManager's applied connection lacks now.

    Addresses count only while the device still holds them (``present``: what
    NetworkManager sees on it), or handing them back would add them again.  Rules
    and routes are in the kernel unless the device went away (routes go with it).
    """
    missing = delta.without(recorded, applied)
    keep = set(present)
    return dataclasses.replace(missing, addresses=tuple(
        a for a in missing.addresses if a.address in keep))


def leftover_rules(records: Dict[str, Given], gone: Collection[str]) -> List[Rule]:
    """The rules recorded for interfaces that are gone and for no other one."""
    kept = {r for name, given in records.items() if name not in gone
            for r in _items(given.config) if isinstance(r, Rule)}
    return list(dict.fromkeys(r for name in sorted(gone) for r in _items(records[name].config)
                              if isinstance(r, Rule) and r not in kept))


def to_json(records: Dict[str, Given]) -> str:
    """The record as JSON: ``{"devices": {IFNAME: {"connection", "entries", "mtu"?}},
    "version": 1}``, keys sorted.  Written before and after each device's Reapply, so
    each device's part is encoded once per value (``_device_json``), compact, by the C
    encoder (an indented dump is encoded in Python: at 15 NICs x 50 addresses it was
    most of a first run)."""
    devices = ", ".join(f"{json.dumps(ifname)}: {_device_json(given)}"
                        for ifname, given in sorted(records.items()))
    return f'{{"devices": {{{devices}}}, "version": 1}}'


@functools.lru_cache(maxsize=512)
def _device_json(given: Given) -> str:
    doc: Dict[str, Any] = {"connection": given.connection, "entries": [
        {"kind": kind, **_fields(item)} for kind, cls in _KINDS.items()
        for item in _items(given.config) if isinstance(item, cls)]}
    if given.config.mtu is not None:  # one this tool set (planning/mtu.py)
        doc["mtu"] = given.config.mtu
    return json.dumps(doc, sort_keys=True)


def from_json(text: str) -> Dict[str, Given]:
    """ValueError when it is not such a record."""
    try:
        doc = json.loads(text)["devices"]
        result = {}
        for ifname, given in doc.items():
            items = [_KINDS[e.pop("kind")](**{k: _tuple(v) if k == "extra" else v
                                              for k, v in e.items()})
                     for e in given["entries"]]
            mtu = given.get("mtu")
            if mtu is not None and (isinstance(mtu, bool) or not isinstance(mtu, int)):
                raise ValueError(f"the MTU {mtu!r} is not a number")
            result[ifname] = Given(str(given["connection"]), IpConfig(
                tuple(i for i in items if isinstance(i, Address)),
                tuple(i for i in items if isinstance(i, Route)),
                tuple(i for i in items if isinstance(i, Rule)), mtu))
        return result
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"not a record of applied entries ({err})") from None


def load(state_dir: Optional[Path]) -> Dict[str, Given]:
    if state_dir is None:
        return {}
    path = Path(state_dir) / RECORD
    try:
        return from_json(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        LOG.warning("ignoring the unreadable record %s (%s)", path, err)
        return {}


def save(state_dir: Optional[Path], records: Dict[str, Given]) -> None:
    """Write atomically; without a usable state directory, only a debug line."""
    if state_dir is None:
        return
    import tempfile  # only when writing: it costs shutil, bz2, lzma at start-up

    try:
        Path(state_dir).mkdir(mode=0o755, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=state_dir, prefix=".nm-applied-",
                                         delete=False) as tmp:
            tmp.write(to_json(records))
        os.replace(tmp.name, Path(state_dir) / RECORD)
    except OSError as err:
        LOG.debug("cannot write %s (%s): what NetworkManager forgets on a restart stays in "
                  "the kernel", Path(state_dir) / RECORD, err)


def _items(config: IpConfig):
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, tuple):
            yield from value


def _fields(item) -> dict:
    return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}


def _tuple(value):
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value
