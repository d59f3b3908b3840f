"""The contract between the pipeline and a backend.

A backend reads and changes the IP configuration of one device at a time, both
address families: NetworkManager over D-Bus (``backends/nm``), or the kernel
over netlink (``backends/netlink``).  The pipeline (``pipeline/``) calls only
what is declared here; ``cli.py`` chooses and makes the backend.

``Backend`` is what every backend does.  The optional capabilities are classes
of their own: a backend inherits from each one it has, so that it declares what
it can do, and the pipeline asks with ``isinstance`` (which the type checker
follows), never by probing for a method:

- ``CommitsLater``: ``apply`` returns before the kernel has the change
  (NetworkManager); ``wait_removed`` says when an address moving to another
  device has really left this one.  Without it, a change is done when ``apply``
  returns.
- ``RemovesLeftovers``: what it added for NICs that are gone (unplugged) would
  outlive them (rules); ``remove_leftovers`` removes it.
- ``MakesNics``: it gives a NIC of static networks (OpenStack), which nobody
  else configures, a configuration of this tool's own, and removes it when the
  NIC is gone.
- ``MakesLinks``: it also makes the VLANs and bonds the metadata names
  (OpenStack), in memory.
- ``MakesOciVlans``: it makes OCI bare metal's MACVLAN and VLAN, as upstream.
- ``ListsForeign``: it tells what of a device is another program's, left in place
  (``status`` and ``--dry-run`` show it).

Only plain values cross: ``model``'s devices and configurations; a backend's
own reading of a device travels in ``Current.token``.  No I/O here.
"""

from __future__ import annotations

from typing import Collection, List, Mapping, Optional, Sequence, Set

from nm_cloud_setup.model import Address, Current, Device, InterfaceData, IpConfig, Rule
from nm_cloud_setup.planning.tables import Tables


class Backend:
    """What every backend does.  ``name``: ``nm`` or ``netlink`` (logs, ``status``)."""

    name = ""

    def devices(self, map_interfaces: Mapping[str, str]) -> List[Device]:
        """The Ethernet devices, each under its permanent MAC (``map_interfaces``:
        ifname -> MAC, upstream's test mapping, wins)."""
        raise NotImplementedError

    def current(self, device: Device) -> Current:
        """What the device holds now, in the plan's form.  Raises
        ``NoAppliedConnectionError`` when nothing configures it (no profile active, or
        the link down), ``BackendError`` when it cannot be read."""
        raise NotImplementedError

    def in_sync(self, current: Current, wanted: IpConfig) -> bool:
        """Whether the device already holds ``wanted`` (then nothing is applied)."""
        raise NotImplementedError

    def describe(self, device: Device, current: Current, wanted: IpConfig) -> List[str]:
        """The change as equivalent command lines (``--dry-run``, ``status``)."""
        raise NotImplementedError

    def apply(self, device: Device, current: Current, wanted: IpConfig) -> None:
        """Bring the device from ``current`` to ``wanted``, both families (a family that
        is off stays as it is).  Raises ``VersionMismatchError`` when the device changed
        since ``current`` was read (read it again), ``BackendError`` on a failure."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class CommitsLater:
    """A backend whose ``apply`` returns before the kernel has the change."""

    def wait_removed(self, device: Device, addresses: Collection[str]) -> bool:
        """Wait until none of ``addresses`` is on the device any more; False when they
        are still there after the backend's own timeout."""
        raise NotImplementedError


class RemovesLeftovers:
    """A backend whose entries can outlive the NIC they were added for."""

    def remove_leftovers(self, devices: Sequence[Device]) -> List[str]:
        """Remove what was added for NICs that are gone (not in ``devices``, no link);
        their interface names."""
        raise NotImplementedError


class MakesNics:
    """A backend that configures a NIC of static networks that nothing else configures."""

    def generated(self, device: Device) -> bool:
        """Whether what configures the device now is the system's own guess (NetworkManager's
        default wired profile, waiting for a DHCP server that is not there): a NIC of
        static networks then gets a configuration of this tool's own instead."""
        raise NotImplementedError

    def make_nic(self, device: Device, iface: InterfaceData, wanted: IpConfig) -> None:
        """Give the NIC a configuration of this tool's own holding ``wanted`` whole."""
        raise NotImplementedError

    def remove_stale(self, named: Optional[Set[str]]) -> List[str]:
        """Remove the configurations of this tool's own whose device is gone, and of the
        VLANs and bonds not ``named`` by the metadata (None: unknown, keep them); their
        interface names."""
        raise NotImplementedError


class MakesLinks(MakesNics):
    """A backend that also makes the VLANs and bonds the metadata names (OpenStack)."""

    def device_named(self, ifname: str, mac: str) -> Optional[Device]:
        """The device called ``ifname``, presented under ``mac``; None when there is none."""
        raise NotImplementedError

    def make_carrier(self, device: Device, mtu: Optional[int]) -> None:
        """Bring up a NIC that only carries VLANs, with no addresses of its own."""
        raise NotImplementedError

    def make_vlan(self, iface: InterfaceData, parent: str, wanted: IpConfig) -> None:
        """Make the VLAN ``iface.link`` names on the device ``parent``, holding ``wanted``."""
        raise NotImplementedError

    def make_bond(self, iface: InterfaceData, wanted: IpConfig,
                  members: List[Device]) -> None:
        """Make the bond ``iface.link`` names over ``members``, holding ``wanted``."""
        raise NotImplementedError


class ListsForeign:
    """A backend that tells what is another program's, left in place."""

    def foreign(self, device: Device, current: Current, known: IpConfig,
                tables: Tables) -> List[str]:
        """The device's addresses and routes that are neither in ``known`` (the run's, the
        connection's, the metadata's) nor dynamic; as text, those in ``tables``' tables
        marked."""
        raise NotImplementedError

    def foreign_rules(self, known: Collection[Rule], tables: Tables) -> List[str]:
        """The rules in ``tables``' priorities that are not in ``known``; as text."""
        raise NotImplementedError

    def reads_kernel(self) -> bool:
        """Whether the run reads the kernel anyway: then a run that changes something
        lists another program's entries too; else only ``status`` and ``--dry-run`` do
        (a run must not load netlink for a report)."""
        raise NotImplementedError


class MakesOciVlans:
    """A backend that makes OCI bare metal's VNIC devices, as upstream does."""

    def device_by_name(self, ifname: str, mac: str) -> Optional[Device]:
        """The VLAN device of an OCI VNIC (one with its MAC, whatever its name, else one
        named ``ifname``), presented under ``mac``; None when there is none."""
        raise NotImplementedError

    def create_vlan(self, mac: str, parent_ifname: str, parent_mac: str, tag: int,
                    address: Address, index: int = 0) -> str:
        """A MACVLAN with ``mac`` on the physical NIC and a VLAN ``tag`` on it holding
        ``address``, named after the VNIC's position ``index`` (upstream's names); the
        VLAN's interface name."""
        raise NotImplementedError
