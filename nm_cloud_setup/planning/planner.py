"""The planner: each device's wanted state in one run.  Pure: no I/O, no logging.

``layout`` says what the cloud's metadata adds to a device; the planner decides,
for the whole instance, what each device is to hold: which families are planned
(single-address families get no layout; a family the device's configuration
leaves off stays as it is), what a profile of this tool's own starts from, and,
while some NIC's metadata is missing, that no address leaves a device (it may be
moving to that NIC).  ``pipeline/survey.py`` reads each device and asks the
planner; ``pipeline/apply.py`` applies the answer in two phases (``delta``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, List, Tuple, Union

from nm_cloud_setup.model import FAMILIES, Current, InstanceData, InterfaceData, IpConfig
from nm_cloud_setup.planning import delta, layout
from nm_cloud_setup.planning.tables import UPSTREAM, Tables


@dataclass(frozen=True)
class Planner:
    """A device's wanted state.

    ``single``: True, or the families for which the instance is single-address;
    ``families``: those to plan (the others stay as they are applied).  ``hold_back``:
    some NIC's metadata is missing, so an address leaving a device may be moving to
    that NIC: it stays where it is for now.
    """

    single: Union[bool, AbstractSet[int]]
    families: AbstractSet[int] = frozenset(FAMILIES)
    hold_back: bool = False
    tables: Tables = UPSTREAM

    @classmethod
    def for_instance(cls, instance: InstanceData, tables: Tables = UPSTREAM) -> "Planner":
        """The planner of a run.  With a NIC's data missing, a family that looks
        single-address may not be: such a family is left as it is on every NIC."""
        single = layout.single_families(instance)
        families = set(FAMILIES) - (single if instance.failed else set())
        return cls(single, frozenset(families), bool(instance.failed), tables)

    @property
    def single_families(self) -> AbstractSet[int]:
        if isinstance(self.single, bool):
            return set(FAMILIES) if self.single else set()
        return self.single

    def __call__(self, iface: InterfaceData, current: Current) -> IpConfig:
        wanted = self.cloud(iface, current)
        if self.hold_back:
            wanted = delta.merged(wanted, delta.departing(current.applied, wanted))
        return wanted

    def cloud(self, iface: InterfaceData, current: Current) -> IpConfig:
        """What the metadata wants the device to hold, holding nothing back."""
        own = layout.static_base(iface) if current.ours else current.own
        return layout.desired(iface, own, self.single, self.planned_families(current),
                              current.applied, current.ours, self.tables, current.mtu_set)

    def planned_families(self, current: Current) -> AbstractSet[int]:
        """``families`` without those the device's configuration leaves off."""
        return set(self.families) - {family for family, _ in current.families_off}

    def families_left(self, iface: InterfaceData, current: Current) -> List[Tuple[int, str]]:
        """(family, why) for each family the device's configuration leaves off although
        the cloud has data for it."""
        return [(family, reason) for family, reason in current.families_off
                if iface.addresses_of(family) or any(
                    (":" in cidr) == (family == 6) for cidr in iface.local_routes)]

    def held_back(self, iface: InterfaceData, current: Current) -> List[str]:
        """The addresses the device keeps for now, though the metadata no longer gives
        them to it (``hold_back``)."""
        if not self.hold_back:
            return []
        return delta.held(delta.departing(current.applied, self.cloud(iface, current)))

    def made(self, iface: InterfaceData) -> IpConfig:
        """Everything a profile this tool makes for ``iface`` holds (``layout.static_base``
        and the layout)."""
        return layout.desired(iface, layout.static_base(iface), self.single, self.families,
                              IpConfig(), ours=True, tables=self.tables)
