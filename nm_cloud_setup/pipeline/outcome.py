"""What a run found and did, per device and in all: for the exit status, the state
file, ``--dry-run`` and ``status``.  Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Optional

from nm_cloud_setup.model import Identity, InstanceData, InterfaceData, IpConfig

if TYPE_CHECKING:
    from nm_cloud_setup.pipeline import dmi


@dataclass
class DeviceReport:
    """One NIC of a run: its metadata, what is applied, what is wanted, and the commands."""

    ifname: str
    mac: str
    metadata: Optional[InterfaceData]  # None: left alone before the metadata was asked
    applied: Optional[IpConfig] = None
    wanted: Optional[IpConfig] = None
    skipped: Optional[str] = None
    in_sync: Optional[bool] = None
    commands: List[str] = field(default_factory=list)
    foreign: List[str] = field(default_factory=list)  # another program's, left in place
    error: Optional[str] = None  # why it could not be read or brought in sync


@dataclass
class Outcome:
    provider: Optional[str] = None
    backend: Optional[str] = None
    instance: Optional[InstanceData] = None
    changed: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    devices: List[DeviceReport] = field(default_factory=list)
    dmi: Optional["dmi.DmiIdentity"] = None
    identity: Optional[Identity] = None
    identity_error: Optional[str] = None
    foreign_rules: List[str] = field(default_factory=list)  # in the layout's priorities

    @property
    def ok(self) -> bool:
        return not self.errors
