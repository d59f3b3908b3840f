"""The machine's DMI identity (``/sys/class/dmi/id``) and the cloud it names.

Read once per run.  It only orders the provider choice: a provider is probed
whatever DMI says (EC2-compatible servers run on plain QEMU, whose DMI names
no cloud).  The fields and values that name each cloud are its row's in
``providers/registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from nm_cloud_setup.providers import registry

FIELDS = ("sys_vendor", "product_name", "chassis_asset_tag", "board_vendor")
# (provider key, DMI field, values), in the order they are tried: the choice order.
SIGNATURES: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = tuple(
    (key, name, values) for key in registry.CHOICE_ORDER
    for name, values in registry.BY_KEY[key].dmi)
_MAX_VALUE = 256


@dataclass(frozen=True)
class DmiIdentity:
    """The DMI fields read (None: absent or unreadable) and the provider they name."""

    values: Tuple[Tuple[str, Optional[str]], ...] = ()
    cloud: Optional[str] = None
    because: Optional[str] = None

    def as_dict(self) -> Dict[str, Optional[str]]:
        return dict(self.values)

    def describe(self) -> str:
        shown = ", ".join(f'{key}="{value}"' for key, value in self.values if value)
        if self.cloud:
            return f"names {self.cloud} ({self.because})"
        return f"names no cloud ({shown or 'no DMI data'})"


def match(values: Dict[str, Optional[str]]) -> Tuple[Optional[str], Optional[str]]:
    """(provider key, 'field="value"') of the first signature the values carry."""
    for key, name, accepted in SIGNATURES:
        value = values.get(name)
        if value is not None and value in accepted:
            return key, f'{name}="{value}"'
    return None, None


def read(directory: str) -> DmiIdentity:
    """Read the DMI fields from ``directory``; a missing or unreadable one is None."""
    values: Dict[str, Optional[str]] = {}
    for name in FIELDS:
        try:
            text = (Path(directory) / name).read_text(errors="replace")[:_MAX_VALUE].strip()
        except OSError:
            text = ""
        values[name] = text or None
    cloud, because = match(values)
    return DmiIdentity(tuple(values.items()), cloud, because)
