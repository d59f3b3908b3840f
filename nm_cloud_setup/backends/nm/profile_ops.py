"""Adding, activating, finding and deleting profiles, over ``dbus.Bus``'s plain calls.

No D-Bus library here: ``Bus.call`` and ``Bus.prop`` take and give plain values;
the settings come from ``profiles``.  OCI bare metal's
profiles are upstream's (persistent, ``AddConnection``); OpenStack's are this
tool's, in memory (``AddConnection2`` with ``IN_MEMORY``; NetworkManager 1.42
refused ``AddAndActivateConnection`` for a new virtual device, so it is always
add, then ``ActivateConnection``), each replacing an earlier one for the same
thing (an activation that failed on an earlier run).
"""

from __future__ import annotations

import logging
import time
from typing import Dict, Iterator, List, Optional, Set, Tuple

from nm_cloud_setup.backends.nm import profiles as nm_profiles
from nm_cloud_setup.backends.nm import settings as nm_settings
from nm_cloud_setup.backends.nm.dbus import NM, PROPERTIES, Bus
from nm_cloud_setup.backends.nm.profiles import Made
from nm_cloud_setup.backends.nm.settings import Settings, Value
from nm_cloud_setup.errors import ApplyError, BackendError
from nm_cloud_setup.model import Address, Device, InterfaceData, IpConfig, normalize_mac

LOG = logging.getLogger(__name__)

NM_PATH = "/org/freedesktop/NetworkManager"
SETTINGS_PATH = f"{NM_PATH}/Settings"
SETTINGS = f"{NM}.Settings"
PROFILE = f"{NM}.Settings.Connection"
ACTIVE = f"{NM}.Connection.Active"
ACTIVE_STATE_ACTIVATED = 2
ACTIVE_STATE_DEACTIVATING = 3
ACTIVATE_TIMEOUT = 10.0
DEVICE = f"{NM}.Device"
DEVICE_TYPE_VLAN = 11
DEVICE_TYPE_MACVLAN = 18


def oci_vlan(bus: Bus, mac: str, parent: str, parent_mac: str, tag: int,
             address: Address, index: int) -> str:
    """OCI bare metal, as upstream names them after the VNIC's position ``index``: a
    MACVLAN ``macvlanN`` with the VNIC's MAC on the physical NIC, a VLAN (profile
    ``vlanN``, device ``macvlanN.TAG``) on it with the VNIC's address; both persistent,
    each activated (within ``ACTIVATE_TIMEOUT`` s, else ApplyError).  A profile left by
    an earlier run whose activation failed is reused, and so is a MACVLAN device that
    has the VNIC's MAC already, whatever its name (one an earlier version made as
    ``macvlanTAG``, or one made at another position).  Returns the VLAN's name."""
    macvlan = _macvlan_with(bus, mac, f"macvlan{index}")
    steps = [("vlan", nm_profiles.oci_vlan(f"vlan{index}", macvlan or f"macvlan{index}", tag,
                                           address))]
    if macvlan is None:
        macvlan = f"macvlan{index}"
        steps.insert(0, ("macvlan", nm_profiles.oci_macvlan(macvlan, parent, mac)))
    for kind, settings in steps:
        # As upstream: the VLAN's parent is the MACVLAN, which has the VNIC's MAC.
        LOG.debug("config device %s: creating %s connection for VLAN %d on %s...", mac,
                  kind if kind == "vlan" else macvlan, tag,
                  parent_mac if kind != "vlan" else mac)
        con = settings["connection"]
        try:
            path = _named(bus, con["id"].value, con)
            if path is None:
                (path,) = bus.call(SETTINGS_PATH, SETTINGS, "AddConnection", "a{sa{sv}}",
                                  [settings])
            activate(bus, path, "/")
        except (BackendError, ApplyError) as err:
            LOG.debug("config device %s: failure to activate connection: %s", mac, err)
            raise ApplyError(f"failure to activate connection {kind}: {err}") from None
        LOG.debug('config device %s: connection "%s" (%s) created', mac, con["id"].value,
                  con["uuid"].value)
    return nm_profiles.vlan_ifname(macvlan, tag)


def _macvlan_with(bus: Bus, mac: str, name: str) -> Optional[str]:
    """The name of a MACVLAN device that has ``mac``, if any.  ApplyError when none has
    and ``name`` is another VNIC's device (VNICs reordered: it is never taken over)."""
    taken = None
    for _, values in _devices(bus):
        found = normalize_mac(values["HwAddress"].value or "")
        if values["DeviceType"].value == DEVICE_TYPE_MACVLAN and found == mac:
            return values["Interface"].value
        if values["Interface"].value == name:
            taken = found
    if taken is not None:
        raise ApplyError(f"{name} is the device of another VNIC ({taken}): the VNICs were "
                         "reordered; made once that one is gone")
    return None


def _named(bus: Bus, con_id: str, con: dict) -> Optional[str]:
    """The path of a profile named ``con_id`` (its uuid copied into ``con``), if any."""
    (paths,) = bus.call(SETTINGS_PATH, SETTINGS, "ListConnections")
    for path in paths:
        (settings,) = bus.call(path, PROFILE, "GetSettings")
        found = settings.get("connection", {})
        if found.get("id", Value("s", "")).value == con_id:
            con["uuid"] = found.get("uuid", Value("s", ""))
            return path
    return None


def generated(bus: Bus, profile: Optional[str]) -> bool:
    """Whether the profile at ``profile`` is NetworkManager's own default connection."""
    return profile is not None and nm_profiles.generated(bus.prop(profile, PROFILE, "Flags"))


def make(bus: Bus, settings: Settings, device: Optional[Device]) -> None:
    """Add ``settings`` in memory, instead of an earlier profile for the same thing, and
    activate it on ``device`` (None: the virtual device it makes).  ApplyError when
    it cannot be added or does not activate within ``ACTIVATE_TIMEOUT`` s."""
    _activate_made(bus, settings, _add(bus, settings), device)


def make_bond(bus: Bus, iface: InterfaceData, wanted: IpConfig, members: List[Device]) -> None:
    """The bond and its members' slave profiles; the bond activated (the kernel makes it
    then, or refuses at once: no waiting, it may wait for its slaves' carrier), then
    each slave, waited for."""
    assert iface.link is not None
    bond = nm_profiles.bond(iface, wanted)
    bond_path = _add(bus, bond)
    slaves = [(nm_profiles.slave(m.ifname, m.mac, iface.link.ifname), m) for m in members]
    paths = [_add(bus, settings) for settings, _ in slaves]
    _activate_made(bus, bond, bond_path, None, wait=False)
    for (settings, member), path in zip(slaves, paths):
        _activate_made(bus, settings, path, member)


def _add(bus: Bus, settings: Settings) -> str:
    name = settings["connection"]["id"].value
    try:
        made_for = nm_settings.made_for(settings) or ""
        for profile in ours(bus):
            if nm_profiles.find([profile], made_for):
                bus.call(profile.handle, PROFILE, "Delete")
        (path, _) = bus.call(SETTINGS_PATH, SETTINGS, "AddConnection2", "a{sa{sv}}ua{sv}",
                            [settings, nm_profiles.ADD_IN_MEMORY
                             | nm_profiles.ADD_BLOCK_AUTOCONNECT, {}])
    except BackendError as err:
        raise ApplyError(f'failure to add connection "{name}": {err}') from None
    LOG.debug('added in-memory connection "%s" (%s)', name, settings["connection"]["uuid"].value)
    return path


def _activate_made(bus: Bus, settings: Settings, path: str, device: Optional[Device],
                   wait: bool = True) -> None:
    try:
        activate(bus, path, device.handle if device else "/", wait)
    except (BackendError, ApplyError) as err:
        name = settings["connection"]["id"].value
        raise ApplyError(f'failure to activate connection "{name}": {err}') from None


def activate(bus: Bus, path: str, device: str, wait: bool = True) -> None:
    """Activate a profile and (``wait``) wait until it is active (ApplyError if not)."""
    (active,) = bus.call(NM_PATH, NM, "ActivateConnection", "ooo", [path, device, "/"])
    if not wait:  # refused at once, or on its way
        return
    deadline = time.monotonic() + ACTIVATE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            state = bus.prop(active, ACTIVE, "State")
        except BackendError:
            state = ACTIVE_STATE_DEACTIVATING  # the active connection is gone already
        if state == ACTIVE_STATE_ACTIVATED:
            return
        if state >= ACTIVE_STATE_DEACTIVATING:
            raise ApplyError("NetworkManager could not activate it (see its log)")
        time.sleep(0.1)
    raise ApplyError(f"not activated within {ACTIVATE_TIMEOUT:g} s")


def ours(bus: Bus) -> List[Made]:
    """The profiles this tool made that NetworkManager holds (with their flags)."""
    (paths,) = bus.call(SETTINGS_PATH, SETTINGS, "ListConnections")
    result = []
    for path in paths:
        (settings,) = bus.call(path, PROFILE, "GetSettings")
        if nm_settings.made_for(settings):
            found = nm_profiles.made(path, settings, bus.prop(path, PROFILE, "Flags"))
            result += [found] if found else []
    return result


def device_by_name(bus: Bus, ifname: str, mac: str, vlan_by_mac: bool = True
                   ) -> Optional[Device]:
    """The device named ``ifname``, or (``vlan_by_mac``) a VLAN with ``mac``, which wins;
    presented under ``mac``."""
    named = None
    for path, values in _devices(bus):
        name = values["Interface"].value
        if (vlan_by_mac and values["DeviceType"].value == DEVICE_TYPE_VLAN
                and normalize_mac(values["HwAddress"].value) == mac):
            return Device(mac=mac, ifname=name, handle=path)
        if name == ifname:
            named = Device(mac=mac, ifname=name, handle=path)
    return named


def _devices(bus: Bus) -> Iterator[Tuple[str, Dict[str, Value]]]:
    """(path, its Device properties) of every device."""
    (paths,) = bus.call(NM_PATH, NM, "GetDevices")
    for path in paths:
        (values,) = bus.call(path, PROPERTIES, "GetAll", "s", [DEVICE])
        yield path, values


def remove_stale(bus: Bus, named: Optional[Set[str]]) -> List[str]:
    """Delete the profiles ``nm_profiles.stale`` finds; their interface names."""
    removed = []
    names = {values["Interface"].value: normalize_mac(values["HwAddress"].value or "")
             for _, values in _devices(bus)}
    for profile in nm_profiles.stale(ours(bus), names, named):
        bus.call(profile.handle, PROFILE, "Delete")
        LOG.info('removed the in-memory connection "%s" (%s): %s',
                 nm_profiles.name_of(profile.ifname), profile.kind,
                 "no longer named by the metadata" if profile.kind in ("vlan", "bond")
                 else "its device is gone")
        removed.append(profile.ifname)
    return removed
