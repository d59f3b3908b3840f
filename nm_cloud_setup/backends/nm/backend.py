"""The NetworkManager backend: reads and reapplies devices' applied connections.

It reads devices, applied connections and the profiles' own settings, and
reapplies IPv4 and IPv6 settings and the MTU (``ethernet.mtu``) at runtime, in one
Reapply (profiles on disk stay untouched).  It records what it gave each device, and
the MTU it set (``record``), so what
NetworkManager forgets in a restart is removed all the same.  Profiles of this
tool's own (OCI's, and OpenStack's in-memory ones) are ``profile_ops``'s
business, their settings ``profiles``'; what settings mean is ``settings``'.
The calls go through ``dbus.Bus``, synchronously, in plain values.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Dict, List, Mapping, Optional, Sequence, Set

from nm_cloud_setup.backends.base import (Backend, CommitsLater, ListsForeign, MakesLinks,
                                          MakesOciVlans, RemovesLeftovers)
from nm_cloud_setup.backends.nm import profile_ops
from nm_cloud_setup.backends.nm import profiles as nm_profiles
from nm_cloud_setup.backends.nm import record as nm_record
from nm_cloud_setup.backends.nm import settings as nm_settings
from nm_cloud_setup.backends.nm.dbus import NM, PROPERTIES, Bus, DBusError
from nm_cloud_setup.backends.nm.foreign import ForeignGuard
from nm_cloud_setup.backends.nm.settings import Settings
from nm_cloud_setup.errors import ApplyError, NoAppliedConnectionError, VersionMismatchError
from nm_cloud_setup.model import (Address, Current, Device, InterfaceData, IpConfig, Rule,
                                  normalize_mac)
from nm_cloud_setup.planning import delta
from nm_cloud_setup.planning import mtu as link_mtu
from nm_cloud_setup.planning.tables import Tables

LOG = logging.getLogger(__name__)

NM_PATH = "/org/freedesktop/NetworkManager"
DEVICE = f"{NM}.Device"
# Ethernet, and veth (libnm's NMDeviceVeth is an NMDeviceEthernet, as upstream counts it).
DEVICE_TYPES_ETHERNET = (1, 20)
DEVICE_STATE_UNAVAILABLE = 20
PROFILE = f"{NM}.Settings.Connection"
REMOVAL_WAIT = 2.0


@dataclass(frozen=True)
class _Applied:
    """The applied connection's settings (plain values) and version id, kept to reapply
    them."""

    settings: Settings
    version_id: int
    profile: Optional[str] = None  # the profile's path, kept for one of ours
    applied: IpConfig = IpConfig()  # as NetworkManager has it
    forgotten: IpConfig = IpConfig()  # given before a restart, still on the device


class NetworkManager(Backend, CommitsLater, RemovesLeftovers, MakesLinks, MakesOciVlans,
                     ListsForeign):
    """A client of NetworkManager on the system bus (or a given bus address)."""

    name = "nm"

    def __init__(self, bus_address: Optional[str] = None, session_bus: bool = False,
                 call_timeout: float = 10.0, state_dir: Optional[Path] = None,
                 kernel: Optional[Callable[[Optional[int]], Any]] = None) -> None:
        """``kernel(pid)``: the kernel side for NetworkManager's process ``pid`` (its rules,
        and what a Reapply drops: ``backends/netlink/for_nm.py``), made when first needed."""
        self.bus = Bus(bus_address, session_bus, call_timeout)
        self._make_kernel = kernel
        self._kernel_side: Any = None
        have_kernel = self._kernel if kernel is not None else None
        # What it gave each device, and what is not NetworkManager's through a Reapply.
        self._memory = nm_record.Memory(state_dir, have_kernel)
        self._foreign = ForeignGuard(self.bus, have_kernel)
        self._interfaces: Set[str] = set()  # every device's, as devices() last saw them
        self._version: Optional[str] = None

    # -- connection ------------------------------------------------------------

    def connect(self) -> None:
        """Connect, and make sure NetworkManager itself is on the bus."""
        self.bus.connect()

    def close(self) -> None:
        try:
            self._foreign.finish()
        finally:
            if self._kernel_side is not None:
                self._kernel_side.close()
            self.bus.close()

    def _kernel(self) -> Any:
        """The kernel side, in NetworkManager's network namespace (made once)."""
        if self._kernel_side is None:
            assert self._make_kernel is not None
            (pid,) = self.bus.call("/org/freedesktop/DBus", "org.freedesktop.DBus",
                                   "GetConnectionUnixProcessID", "s", [NM],
                                   destination="org.freedesktop.DBus")
            self._kernel_side = self._make_kernel(int(pid))
        return self._kernel_side

    def version(self) -> str:
        """The daemon's version (read once)."""
        if self._version is None:
            self._version = str(self.bus.run(self.bus.aprop(NM_PATH, NM, "Version")))
        return self._version

    # -- reading ---------------------------------------------------------------

    def devices(self, map_interfaces: Mapping[str, str]) -> List[Device]:
        """Ethernet devices in state unavailable or later, keyed by permanent MAC."""
        return self.bus.run(self._devices(map_interfaces))

    async def _devices(self, map_interfaces: Mapping[str, str]) -> List[Device]:
        (paths,) = await self.bus.acall(NM_PATH, NM, "GetDevices")
        props = await asyncio.gather(*(self._device_props(p) for p in paths))
        present = [(path, values) for path, values in zip(paths, props) if values is not None]
        result = []
        self._interfaces = {values["Interface"].value for _, values in present}
        for path, values in present:
            if (values["DeviceType"].value not in DEVICE_TYPES_ETHERNET
                    or values["State"].value < DEVICE_STATE_UNAVAILABLE):
                continue
            ifname = values["Interface"].value
            mac = map_interfaces.get(ifname)
            if mac is None:
                try:
                    perm = await self.bus.aprop(path, f"{DEVICE}.Wired", "PermHwAddress")
                except DBusError:  # gone since it was listed
                    continue
                mac = normalize_mac(perm or "") or normalize_mac(values["HwAddress"].value)
            if mac is not None:
                result.append(Device(mac=mac, ifname=ifname, handle=path))
        return result

    async def _device_props(self, path: str) -> Optional[Dict[str, Any]]:
        """A device's properties; None when it went away since it was listed (unplugged)."""
        try:
            (values,) = await self.bus.acall(path, PROPERTIES, "GetAll", "s", [DEVICE])
        except DBusError as err:
            LOG.debug("device %s gone while listed: %s", path, err.message)
            return None
        return values

    def current(self, device: Device) -> Current:
        """The applied connection and the profile's own settings, both families.

        Raises NoAppliedConnectionError when the device has none.  ``applied`` includes
        what NetworkManager forgot in a restart but the device still holds.
        """
        current = self.bus.run(self._current(device))
        token = current.token
        forgotten = self._memory.still_there(token.forgotten)  # netlink: outside the loop
        if forgotten == token.forgotten:
            return current
        return dataclasses.replace(current, applied=delta.merged(token.applied, forgotten),
                                   token=dataclasses.replace(token, forgotten=forgotten))

    async def _current(self, device: Device) -> Current:
        try:
            settings, version_id = await self.bus.acall(device.handle, DEVICE,
                                                        "GetAppliedConnection", "u", [0])
        except DBusError as err:
            raise NoAppliedConnectionError(err.message) from None
        skip = nm_settings.skip_reason(settings)
        ours = nm_settings.made_for(settings) is not None
        profile = None if skip else await self._profile_of(device)
        own = IpConfig()
        if profile is not None and not ours:  # ours: the metadata's entries, not the profile's
            (own_settings,) = await self.bus.acall(profile, PROFILE, "GetSettings")
            own = nm_settings.config_from_settings(own_settings)
        applied = nm_settings.config_from_settings(settings)
        forgotten = IpConfig() if skip else await self._forgotten(device, settings, applied)
        given = self._memory.given(device.ifname, _uuid(settings))
        return Current(label=nm_settings.label(settings), own=own,
                       applied=delta.merged(applied, forgotten), skip=skip,
                       token=_Applied(settings, version_id, profile if ours else None, applied,
                                      forgotten),
                       families_off=nm_settings.families_off(settings), ours=ours,
                       mtu_set=None if given is None else given.mtu)

    async def _forgotten(self, device: Device, settings: Settings,
                         applied: IpConfig) -> IpConfig:
        """What this tool gave the device before NetworkManager restarted, still there."""
        given = self._memory.given(device.ifname, _uuid(settings))
        if given is None or not delta.loses(given, applied):
            return IpConfig()
        present = [a for family in ("4", "6") for a in await self._addresses(device, family)
                   or ()]
        return nm_record.forgotten(given, applied, present)

    def remove_leftovers(self, devices: Sequence[Device]) -> List[str]:
        """Rules given for NICs that are gone, and forgotten by NetworkManager in a restart
        (so it left them): removed from the kernel directly.  The NICs' names."""
        return self._memory.remove_leftovers({d.ifname for d in devices} | self._interfaces)

    def wait_removed(self, device: Device, addresses: Collection[str],
                     timeout: float = REMOVAL_WAIT) -> bool:
        """Wait until none of ``addresses`` is on the device any more; False after ``timeout``.

        NetworkManager answers Reapply before it commits to the kernel.  Its IP4Config
        and IP6Config objects follow the kernel, so they tell when a removal is done:
        only then may another device be given the address.
        """
        async def wait() -> bool:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                if not await self._holds_any(device, set(addresses)):
                    return True
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(0.02)

        return self.bus.run(wait(), timeout=timeout + self.bus.timeout)

    async def _holds_any(self, device: Device, addresses: Set[str]) -> bool:
        for family in ("4", "6"):
            held = await self._addresses(device, family)
            if held is None or addresses & set(held):
                return True  # the config object went away meanwhile: read again
        return False

    async def _addresses(self, device: Device, family: str) -> Optional[List[str]]:
        """The device's addresses in the kernel, as NetworkManager sees them (its IP config
        objects follow the kernel); None when the object went away meanwhile."""
        path = await self.bus.aprop(device.handle, DEVICE, f"Ip{family}Config")
        if not path or path == "/":
            return []
        try:
            data = await self.bus.aprop(path, f"{NM}.IP{family}Config", "AddressData")
        except DBusError:
            return None
        return [entry["address"].value for entry in data]

    async def _profile_of(self, device: Device) -> Optional[str]:
        """The path of the device's active profile, if it has one."""
        active = await self.bus.aprop(device.handle, DEVICE, "ActiveConnection")
        if not active or active == "/":
            return None
        return await self.bus.aprop(active, f"{NM}.Connection.Active", "Connection")

    def device_by_name(self, ifname: str, mac: str) -> Optional[Device]:
        """The VLAN device of an OCI VNIC: a VLAN with the VNIC's MAC (as upstream finds
        the ones it made, whatever their names), else any device named ``ifname``;
        presented under ``mac``."""
        return profile_ops.device_by_name(self.bus, ifname, mac)

    def device_named(self, ifname: str, mac: str) -> Optional[Device]:
        """The device called ``ifname`` (an OpenStack VLAN or bond), presented under
        ``mac``; None when there is none (yet)."""
        return profile_ops.device_by_name(self.bus, ifname, mac, vlan_by_mac=False)

    # -- profiles of this tool's own (profile_ops makes them) -------------------

    def create_vlan(self, mac: str, parent_ifname: str, parent_mac: str, tag: int,
                    address: Address, index: int = 0) -> str:
        """OCI bare metal: a MACVLAN with ``mac`` on the physical NIC and a VLAN on top
        (``profile_ops.oci_vlan``).  Returns the VLAN's interface name."""
        return profile_ops.oci_vlan(self.bus, mac, parent_ifname, parent_mac, tag, address,
                                    index)

    def generated(self, device: Device) -> bool:
        """Whether the device's active profile is NetworkManager's own default one."""
        return profile_ops.generated(self.bus, self.bus.run(self._profile_of(device)))

    def make_nic(self, device: Device, iface: InterfaceData, wanted: IpConfig) -> None:
        profile_ops.make(self.bus, nm_profiles.nic(device.ifname, iface, wanted), device)

    def make_carrier(self, device: Device, mtu: Optional[int]) -> None:
        profile_ops.make(self.bus, nm_profiles.carrier(device.ifname, device.mac, mtu), device)

    def make_vlan(self, iface: InterfaceData, parent: str, wanted: IpConfig) -> None:
        profile_ops.make(self.bus, nm_profiles.vlan(iface, parent, wanted), None)

    def make_bond(self, iface: InterfaceData, wanted: IpConfig, members: List[Device]) -> None:
        profile_ops.make_bond(self.bus, iface, wanted, members)

    def remove_stale(self, named: Optional[Set[str]]) -> List[str]:
        """Delete the in-memory profiles of ours whose device is gone, and the VLANs and
        bonds not ``named`` (None: keep them); their interface names."""
        return profile_ops.remove_stale(self.bus, named)

    def foreign(self, device: Device, current: Current, known: IpConfig,
                tables: Tables) -> List[str]:
        return self._foreign.left_in_place(device, current.token.settings, known, tables)

    def foreign_rules(self, known: Collection[Rule], tables: Tables) -> List[str]:
        return self._foreign.foreign_rules(known, tables)

    def reads_kernel(self) -> bool:
        return self._kernel_side is not None

    def in_sync(self, current: Current, wanted: IpConfig) -> bool:
        return wanted.same_as(current.token.applied)

    def describe(self, device: Device, current: Current, wanted: IpConfig) -> List[str]:
        """The change as an equivalent ``nmcli device modify`` line."""
        return [nm_settings.nmcli_command(device.ifname, current.applied, wanted)]

    def apply(self, device: Device, current: Current, wanted: IpConfig) -> None:
        """Reapply the connection of ``current`` with ``wanted``'s addresses, routes and
        rules, both families at once (a family that is off stays as it is).

        Raises VersionMismatchError when the connection changed meanwhile.
        """
        applied = current.token
        assert isinstance(applied, _Applied)
        self.bus.run(self._still(device))
        off = {family for family, _ in current.families_off}
        families = [f for f in (4, 6) if f not in off]
        base, version_id = applied.settings, applied.version_id
        if delta.loses(applied.forgotten, wanted):
            # NetworkManager removes only what it knows: hand it back first.
            LOG.debug("config device %s: NetworkManager forgot entries it had been given "
                      "(it restarted): handing them back to remove them", device.mac)
            self._reapply_settings(device, current.label, base, nm_settings.with_config(
                base, delta.merged(applied.applied, applied.forgotten), families), version_id)
            base, version_id = self.bus.call(device.handle, DEVICE, "GetAppliedConnection", "u",
                                             [0])
        mtu_set = link_mtu.recorded(wanted.mtu, current.own.mtu, current.applied.mtu,
                                    current.mtu_set)
        given = nm_record.Given(_uuid(base), dataclasses.replace(
            delta.without(wanted, current.own), mtu=mtu_set))
        self._memory.write(device.ifname, given, ahead=True)
        final = nm_settings.with_config(base, wanted, families)
        if applied.profile is not None:  # ours: the in-memory profile follows (re-activation)
            self.bus.call(applied.profile, PROFILE, "Update2", "a{sa{sv}}ua{sv}",
                          [final, nm_profiles.ADD_IN_MEMORY, {}])
        self._reapply_settings(device, current.label, base, final, version_id)
        self._memory.write(device.ifname, given)

    async def _still(self, device: Device) -> None:
        """Refuse to reapply when the device's object is another device's now.

        NetworkManager numbers its device objects again when it restarts: a path read
        before a restart may be another NIC's after it, with a version id that happens
        to match (found by the soak: one NIC's plan reapplied onto another's profile).
        """
        try:
            name = await self.bus.aprop(device.handle, DEVICE, "Interface")
        except DBusError:
            name = None
        if name != device.ifname:
            now = f'is "{name}" now' if name else "is gone"
            raise ApplyError(f'{device.handle} {now}, not "{device.ifname}" '
                             "(NetworkManager restarted meanwhile?): left for the next run")

    def _reapply_settings(self, device: Device, label: str, before: Settings,
                          settings: Settings, version_id: int) -> None:
        flags = nm_settings.reapply_flags(self.version(), settings)
        self._foreign.protect(device, before, settings, flags)
        LOG.debug("Reapply %s with flags %d (NetworkManager %s)", label, flags, self.version())
        self.bus.run(self._reapply(device, settings, version_id, flags))

    async def _reapply(self, device: Device, settings: Settings, version_id: int,
                       flags: int) -> None:
        try:
            await self.bus.acall(device.handle, DEVICE, "Reapply", "a{sa{sv}}tu",
                                 [settings, version_id, flags])
        except DBusError as err:
            if err.name.endswith(".VersionIdMismatch"):
                raise VersionMismatchError(err.message) from None
            if not (flags and err.name.endswith("InvalidArgument")
                    and "flag" in err.message.lower()):
                raise ApplyError(f"{err.message} ({err.name})") from None
            LOG.debug("Reapply refused the preserve-external-ip flag (NetworkManager older "
                      "than 1.41.6): retrying without it")
            try:
                await self.bus.acall(device.handle, DEVICE, "Reapply", "a{sa{sv}}tu",
                                     [settings, version_id, 0])
            except DBusError as err2:
                if err2.name.endswith(".VersionIdMismatch"):
                    raise VersionMismatchError(err2.message) from None
                raise ApplyError(f"{err2.message} ({err2.name})") from None


def _uuid(settings: Settings) -> str:
    uuid = settings.get("connection", {}).get("uuid")
    return "" if uuid is None else str(uuid.value)
