"""The NICs a run leaves alone (``NM_CLOUD_SETUP_EXCLUDE``).  Pure.

Another program may own a NIC: a Kubernetes network plugin's ENIs, a NIC an
appliance manages.  Such a NIC is named by its MAC, a pattern of its interface
name, its table index (on EC2 its ``device-number``) or the cloud's id of it (EC2's
``interface-id``, OCI's ``vnicId``, OpenStack's link ``id``, Alibaba Cloud's
``network-interface-id``), and is then read for nothing and changed in nothing: no
metadata is asked for it where that can be known beforehand (its MAC, its name),
its connection or kernel state is not read, and no address, route or rule of it is
added, moved or removed.  ``status`` says which selector left it alone.  ``index:1-14``
names a range (a Kubernetes network plugin's ENIs, docs/sharing.md).

    NM_CLOUD_SETUP_EXCLUDE="02:00:00:00:00:03 eth9 cni* index:2 id:eni-0123456789abcdef0"
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Tuple

from nm_cloud_setup.model import InterfaceData, normalize_mac

NAME = "NM_CLOUD_SETUP_EXCLUDE"
MAX_INDEX = 1024  # OCI's nicIndex goes to 1023


@dataclass(frozen=True)
class Exclusion:
    macs: FrozenSet[str] = frozenset()
    names: Tuple[str, ...] = ()  # fnmatch patterns
    indexes: FrozenSet[int] = frozenset()
    ids: FrozenSet[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.macs or self.names or self.indexes or self.ids)

    def of_device(self, mac: str, ifname: str) -> Optional[str]:
        """Why the NIC is left alone, from what is known before the metadata; or None."""
        if mac in self.macs:
            return f"{NAME} names its MAC"
        for pattern in self.names:
            if fnmatch.fnmatchcase(ifname, pattern):
                return f'{NAME} names it ("{pattern}")'
        return None

    def of_nic(self, iface: InterfaceData) -> Optional[str]:
        """Why the NIC is left alone, from its metadata; or None."""
        if iface.index in self.indexes:
            return f"{NAME} names its index {iface.index}"
        if iface.interface_id is not None and iface.interface_id in self.ids:
            return f"{NAME} names its id {iface.interface_id}"
        return None


NOTHING = Exclusion()


def parse(raw: Optional[str]) -> Tuple[Exclusion, List[str]]:
    """The selectors of ``raw`` (comma- or space-separated), and what is wrong with it:
    a selector that cannot be read leaves the run undone rather than a NIC unguarded."""
    macs, names, indexes, ids, errors = set(), [], set(), set(), []
    for item in filter(None, re.split(r"[\s,]+", raw or "")):
        kind, sep, value = item.partition(":")
        mac = normalize_mac(item)
        if mac is not None:
            macs.add(mac)
        elif sep and kind in ("index", "device-number"):
            first, dash, last = value.partition("-")
            last = last if dash else first
            if _number(first) and _number(last) and int(first) <= int(last) < MAX_INDEX:
                indexes.update(range(int(first), int(last) + 1))
            else:
                errors.append(f'{NAME}: "{item}" is not index:N or index:N-M '
                              f'(0 to {MAX_INDEX - 1})')
        elif sep and kind == "id" and value:
            ids.add(value)
        elif sep and kind == "name" and value:
            names.append(value)
        elif sep:
            errors.append(f'{NAME}: "{item}" is not a MAC, a name, index:N or id:ID')
        else:
            names.append(item)
    return Exclusion(frozenset(macs), tuple(names), frozenset(indexes), frozenset(ids)), errors


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 4
