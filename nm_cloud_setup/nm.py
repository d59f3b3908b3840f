"""The NetworkManager backend: the only dbus-next user, and the only event loop.

A synchronous facade: each method runs its D-Bus calls to completion on a
private event loop.  It reads devices, applied connections and the profiles'
own settings, and reapplies IPv4 settings at runtime (profiles on disk stay
untouched).  Conversions between NetworkManager's ``a{sv}`` entries and the
model's values live here too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Dict, List, Mapping, Optional, TypeVar

from dbus_next import BusType, Message, MessageType, Variant
from dbus_next.aio import MessageBus

from nm_cloud_setup import plan
from nm_cloud_setup.config import normalize_mac, parse_bool
from nm_cloud_setup.errors import (ApplyError, BackendError, NoAppliedConnectionError,
                                   NotRunningError, VersionMismatchError)
from nm_cloud_setup.model import Address, Current, Device, Ipv4Config, Route, Rule

LOG = logging.getLogger(__name__)

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
DEVICE = f"{NM}.Device"
PROPERTIES = "org.freedesktop.DBus.Properties"
SKIP_KEY = "org.freedesktop.nm-cloud-setup.skip"
# Ethernet, and veth (libnm's NMDeviceVeth is an NMDeviceEthernet, as upstream counts it).
DEVICE_TYPES_ETHERNET = (1, 20)
DEVICE_STATE_UNAVAILABLE = 20
DEVICE_TYPE_VLAN = 11
ORIGIN_KEY = "org.freedesktop.NetworkManager.origin"
REAPPLY_PRESERVE_EXTERNAL_IP = 0x1
SETTINGS_PATH = f"{NM_PATH}/Settings"
ACTIVE_STATE_ACTIVATED = 2
ACTIVE_STATE_DEACTIVATING = 3
ACTIVE_STATE_DEACTIVATED = 4
ACTIVATE_TIMEOUT = 10.0
ETHERNET = WIRED = "802-3-ethernet"
AF_INET = 2

T = TypeVar("T")


@dataclass(frozen=True)
class _Applied:
    """The applied connection's settings and version id, kept to reapply them."""

    settings: Dict[str, Dict[str, Variant]]
    version_id: int


class NetworkManager:
    """A client of NetworkManager on the system bus (or a given bus address)."""

    name = "nm"

    def __init__(self, bus_address: Optional[str] = None, session_bus: bool = False,
                 call_timeout: float = 10.0) -> None:
        self._address = bus_address
        self._bus_type = BusType.SESSION if session_bus else BusType.SYSTEM
        self._timeout = call_timeout
        self._loop = asyncio.new_event_loop()
        self._bus: Optional[MessageBus] = None
        self.calls = 0

    # -- connection ------------------------------------------------------------

    def connect(self) -> None:
        """Connect, and make sure NetworkManager itself is on the bus."""
        async def connect() -> MessageBus:
            # dbus-next binds a bus to the loop running when it is made.
            return await MessageBus(bus_address=self._address, bus_type=self._bus_type).connect()

        try:
            self._bus = self._run(connect())
        except (OSError, ValueError) as err:
            raise NotRunningError(f"cannot connect to the D-Bus system bus ({err})") from None
        (has_owner,) = self._run(self._call("/org/freedesktop/DBus", "org.freedesktop.DBus",
                                            "NameHasOwner", "s", [NM],
                                            destination="org.freedesktop.DBus"))
        if not has_owner:
            raise NotRunningError("NetworkManager is not running")

    def close(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None
        self._loop.close()

    def version(self) -> str:
        return str(self._run(self._prop(NM_PATH, NM, "Version")))

    # -- reading ---------------------------------------------------------------

    def devices(self, map_interfaces: Mapping[str, str]) -> List[Device]:
        """Ethernet devices in state unavailable or later, keyed by permanent MAC."""
        return self._run(self._devices(map_interfaces))

    async def _devices(self, map_interfaces: Mapping[str, str]) -> List[Device]:
        (paths,) = await self._call(NM_PATH, NM, "GetDevices")
        props = await asyncio.gather(*(self._call(p, PROPERTIES, "GetAll", "s", [DEVICE])
                                       for p in paths))
        result = []
        for path, (values,) in zip(paths, props):
            if (values["DeviceType"].value not in DEVICE_TYPES_ETHERNET
                    or values["State"].value < DEVICE_STATE_UNAVAILABLE):
                continue
            ifname = values["Interface"].value
            mac = map_interfaces.get(ifname)
            if mac is None:
                perm = await self._prop(path, f"{DEVICE}.Wired", "PermHwAddress")
                mac = normalize_mac(perm or "") or normalize_mac(values["HwAddress"].value)
            if mac is not None:
                result.append(Device(mac=mac, ifname=ifname, handle=path))
        return result

    def current(self, device: Device) -> Current:
        """The applied connection and the profile's own IPv4 settings.

        Raises NoAppliedConnectionError when the device has none.
        """
        return self._run(self._current(device))

    async def _current(self, device: Device) -> Current:
        try:
            settings, version_id = await self._call(device.handle, DEVICE,
                                                    "GetAppliedConnection", "u", [0])
        except _DBusError as err:
            raise NoAppliedConnectionError(err.message) from None
        con = settings.get("connection", {})
        label = f'"{_value(con.get("id"), "")}" ({_value(con.get("uuid"), "")})'
        user_data = settings.get("user", {}).get("data")
        skip = None
        if user_data and parse_bool(user_data.value.get(SKIP_KEY, "no")):
            skip = f"skip applied connection due to user data {SKIP_KEY}"
        elif _value(con.get("type"), "") != ETHERNET:
            skip = "skip applied connection due to type mismatch"
        elif "ipv4" not in settings:
            skip = "skip applied connection due to missing IPv4 configuration"
        own = Ipv4Config() if skip else await self._own_config(device)
        return Current(label=label, own=own, applied=config_from_settings(settings),
                       skip=skip, token=_Applied(settings, version_id))

    async def _own_config(self, device: Device) -> Ipv4Config:
        active = await self._prop(device.handle, DEVICE, "ActiveConnection")
        if not active or active == "/":
            return Ipv4Config()
        profile = await self._prop(active, f"{NM}.Connection.Active", "Connection")
        (settings,) = await self._call(profile, f"{NM}.Settings.Connection", "GetSettings")
        return config_from_settings(settings)

    def device_by_name(self, ifname: str, mac: str) -> Optional[Device]:
        """The VLAN device of an OCI VNIC: a VLAN with the VNIC's MAC (as upstream finds
        the ones it made, whatever their names), else any device named ``ifname``;
        presented under ``mac``."""
        return self._run(self._device_by_name(ifname, mac))

    async def _device_by_name(self, ifname: str, mac: str) -> Optional[Device]:
        (paths,) = await self._call(NM_PATH, NM, "GetDevices")
        named = None
        for path in paths:
            (values,) = await self._call(path, PROPERTIES, "GetAll", "s", [DEVICE])
            name = values["Interface"].value
            if (values["DeviceType"].value == DEVICE_TYPE_VLAN
                    and normalize_mac(values["HwAddress"].value) == mac):
                return Device(mac=mac, ifname=name, handle=path)
            if name == ifname:
                named = Device(mac=mac, ifname=name, handle=path)
        return named

    # -- writing ---------------------------------------------------------------

    def create_vlan(self, mac: str, parent_ifname: str, parent_mac: str, tag: int,
                    address: Address) -> str:
        """OCI bare metal: a MACVLAN with ``mac`` on the physical NIC and a VLAN on top.

        Both are new profiles, added and activated (as upstream does; NetworkManager
        1.42 refuses AddAndActivateConnection for a new virtual device, so it is
        AddConnection then ActivateConnection).  Returns the VLAN's interface name;
        ApplyError when one does not activate within ``ACTIVATE_TIMEOUT`` seconds.
        """
        return self._run(self._create_vlan(mac, parent_ifname, parent_mac, tag, address),
                         timeout=2 * ACTIVATE_TIMEOUT + self._timeout)

    async def _create_vlan(self, mac: str, parent: str, parent_mac: str, tag: int,
                           address: Address) -> str:
        macvlan, vlan = f"macvlan{tag}", f"vlan{tag}"
        steps = (
            (f"macvlan{tag}", {
                "connection": _connection(macvlan, "macvlan"),
                "macvlan": {"parent": Variant("s", parent), "mode": Variant("u", 2),
                            "tap": Variant("b", False)},
                WIRED: {"cloned-mac-address": Variant("ay", bytes.fromhex(mac.replace(":", "")))},
                "ipv4": {"method": Variant("s", "disabled")},
                "ipv6": {"method": Variant("s", "disabled")},
            }),
            ("vlan", {
                "connection": _connection(vlan, "vlan"),
                "vlan": {"parent": Variant("s", macvlan), "id": Variant("u", tag)},
                "ipv4": {"method": Variant("s", "manual"),
                         "address-data": Variant("aa{sv}", [
                             {"address": Variant("s", address.address),
                              "prefix": Variant("u", address.prefix)}])},
                "ipv6": {"method": Variant("s", "disabled")},
            }),
        )
        for kind, settings in steps:
            # As upstream: the VLAN's parent is the MACVLAN, which has the VNIC's MAC.
            LOG.debug("config device %s: creating %s connection for VLAN %d on %s...",
                      mac, kind, tag, parent_mac if kind != "vlan" else mac)
            settings["user"] = {"data": Variant("a{ss}", {ORIGIN_KEY: "nm-cloud-setup"})}
            try:
                found = await self._profile(settings["connection"]["id"].value)
                if found is None:
                    (path,) = await self._call(SETTINGS_PATH, f"{NM}.Settings",
                                               "AddConnection", "a{sa{sv}}", [settings])
                else:  # left by an earlier run whose activation failed: not added twice
                    path, settings["connection"]["uuid"] = found
                (active,) = await self._call(NM_PATH, NM, "ActivateConnection", "ooo",
                                             [path, "/", "/"])
                await self._wait_activated(active)
            except (_DBusError, ApplyError) as err:
                reason = err.message if isinstance(err, _DBusError) else str(err)
                LOG.debug("config device %s: failure to activate connection: %s", mac, reason)
                raise ApplyError(f"failure to activate connection {kind}: {reason}") from None
            con = settings["connection"]
            LOG.debug('config device %s: connection "%s" (%s) created', mac, con["id"].value,
                      con["uuid"].value)
        return vlan

    async def _profile(self, con_id: str) -> Optional[tuple]:
        """(path, uuid Variant) of a profile named ``con_id``, if there is one."""
        (paths,) = await self._call(SETTINGS_PATH, f"{NM}.Settings", "ListConnections")
        for path in paths:
            (settings,) = await self._call(path, f"{NM}.Settings.Connection", "GetSettings")
            con = settings.get("connection", {})
            if _value(con.get("id"), "") == con_id:
                return path, con.get("uuid", Variant("s", ""))
        return None

    async def _wait_activated(self, active: str) -> None:
        deadline = self._loop.time() + ACTIVATE_TIMEOUT
        while self._loop.time() < deadline:
            try:
                state = await self._prop(active, f"{NM}.Connection.Active", "State")
            except _DBusError:
                state = ACTIVE_STATE_DEACTIVATED  # the active connection is gone already
            if state == ACTIVE_STATE_ACTIVATED:
                return
            if state >= ACTIVE_STATE_DEACTIVATING:
                raise ApplyError("NetworkManager could not activate it (see its log)")
            await asyncio.sleep(0.1)
        raise ApplyError(f"not activated within {ACTIVATE_TIMEOUT:g} s")

    def in_sync(self, current: Current, wanted: Ipv4Config) -> bool:
        return wanted.same_as(current.applied)

    def describe(self, device: Device, current: Current, wanted: Ipv4Config) -> List[str]:
        """The change as an equivalent ``nmcli device modify`` line."""
        import shlex

        change = plan.diff(current.applied, wanted)
        args = []
        for sign, key, items in (("-", "ipv4.routing-rules", change.remove_rules),
                                 ("-", "ipv4.routes", change.remove_routes),
                                 ("-", "ipv4.addresses", change.remove_addresses),
                                 ("+", "ipv4.addresses", change.add_addresses),
                                 ("+", "ipv4.routes", change.add_routes),
                                 ("+", "ipv4.routing-rules", change.add_rules)):
            if items:
                args += [f"{sign}{key}", ", ".join(str(item) for item in items)]
        if wanted.mtu != current.applied.mtu:
            args += [f"{WIRED}.mtu", str(wanted.mtu or 0)]
        if not args:  # only the primary address moved
            args = ["ipv4.addresses", ", ".join(str(a) for a in wanted.addresses)]
        return [" ".join(["nmcli", "device", "modify", shlex.quote(device.ifname)]
                         + [shlex.quote(arg) for arg in args])]

    def apply(self, device: Device, current: Current, ipv4: Ipv4Config) -> None:
        """Reapply the connection of ``current`` with ``ipv4``'s addresses, routes and rules.

        Raises VersionMismatchError when the connection changed meanwhile.
        """
        applied = current.token
        assert isinstance(applied, _Applied)
        settings = dict(applied.settings)
        settings["ipv4"] = {**ipv4_settings_without_legacy(settings["ipv4"]),
                            **ipv4_to_settings(ipv4)}
        wired = dict(settings.get(WIRED, {}))
        if ipv4.mtu is not None or "mtu" in wired:
            wired["mtu"] = Variant("u", ipv4.mtu or 0)
            settings[WIRED] = wired
        self._run(self._reapply(device, settings, applied.version_id))

    async def _reapply(self, device: Device, settings: Dict, version_id: int) -> None:
        try:
            await self._call(device.handle, DEVICE, "Reapply", "a{sa{sv}}tu",
                             [settings, version_id, REAPPLY_PRESERVE_EXTERNAL_IP])
        except _DBusError as err:
            if err.name.endswith(".VersionIdMismatch"):
                raise VersionMismatchError(err.message) from None
            if not (err.name.endswith("InvalidArgument") and "flag" in err.message.lower()):
                raise ApplyError(f"{err.message} ({err.name})") from None
            LOG.debug("Reapply refused the preserve-external-ip flag (NetworkManager older "
                      "than 1.41.6): retrying without it")
            try:
                await self._call(device.handle, DEVICE, "Reapply", "a{sa{sv}}tu",
                                 [settings, version_id, 0])
            except _DBusError as err2:
                if err2.name.endswith(".VersionIdMismatch"):
                    raise VersionMismatchError(err2.message) from None
                raise ApplyError(f"{err2.message} ({err2.name})") from None

    # -- plumbing --------------------------------------------------------------

    def _run(self, coro: Awaitable[T], timeout: Optional[float] = None) -> T:
        timeout = timeout or self._timeout
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, timeout))
        except asyncio.TimeoutError:
            raise BackendError(f"NetworkManager did not answer within {timeout:g} s") from None
        except _DBusError as err:
            if err.name == "org.freedesktop.DBus.Error.ServiceUnknown":
                raise NotRunningError("NetworkManager is not running") from None
            raise BackendError(f"{err.message} ({err.name})") from None
        except EOFError:
            raise NotRunningError("the D-Bus connection was closed") from None

    async def _call(self, path: str, interface: str, member: str, signature: str = "",
                    body: Optional[List[Any]] = None, destination: str = NM) -> List[Any]:
        if self._bus is None:
            raise BackendError("not connected to NetworkManager")
        self.calls += 1
        reply = await self._bus.call(Message(destination=destination, path=path,
                                             interface=interface, member=member,
                                             signature=signature, body=body or []))
        if reply.message_type == MessageType.ERROR:
            raise _DBusError(reply.error_name or "", str(reply.body[0]) if reply.body else "")
        return reply.body

    async def _prop(self, path: str, interface: str, name: str) -> Any:
        (value,) = await self._call(path, PROPERTIES, "Get", "ss", [interface, name])
        return value.value


def _connection(name: str, kind: str) -> Dict[str, Variant]:
    import uuid

    return {"id": Variant("s", name), "uuid": Variant("s", str(uuid.uuid4())),
            "type": Variant("s", kind), "interface-name": Variant("s", name),
            "autoconnect": Variant("b", True)}


class _DBusError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _value(variant: Optional[Variant], default: Any) -> Any:
    return default if variant is None else variant.value


# -- conversions between NetworkManager's settings and the model ---------------

_ROUTE_KEYS = {"dest": "s", "prefix": "u", "next-hop": "s", "metric": "u", "table": "u",
               "type": "s"}
_RULE_KEYS = {"priority": "u", "table": "u", "from": "s", "from-len": "y",
              "suppress-prefixlength": "i", "family": "i"}


def config_from_settings(settings: Mapping[str, Mapping[str, Variant]]) -> Ipv4Config:
    """A connection's IPv4 addresses, routes and rules, and its MTU (0 = automatic)."""
    config = ipv4_from_settings(settings.get("ipv4", {}))
    mtu = _value(settings.get(WIRED, {}).get("mtu"), 0)
    return dataclasses.replace(config, mtu=mtu or None)


def ipv4_from_settings(ipv4: Mapping[str, Variant]) -> Ipv4Config:
    """The addresses, routes and rules of an ``ipv4`` setting (new-style keys)."""
    addresses = tuple(Address(e["address"].value, e["prefix"].value)
                      for e in _value(ipv4.get("address-data"), []))
    routes = tuple(_route(e) for e in _value(ipv4.get("route-data"), []))
    rules = tuple(_rule(e) for e in _value(ipv4.get("routing-rules"), []))
    return Ipv4Config(addresses, routes, rules)


def _extra(entry: Mapping[str, Variant], known: Mapping[str, str]) -> tuple:
    return tuple(sorted((k, v.signature, _hashable(v.value))
                        for k, v in entry.items() if k not in known))


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _route(e: Mapping[str, Variant]) -> Route:
    return Route(dest=e["dest"].value, prefix=e["prefix"].value,
                 next_hop=_value(e.get("next-hop"), None), metric=_value(e.get("metric"), None),
                 table=_value(e.get("table"), None), type=_value(e.get("type"), None),
                 extra=_extra(e, _ROUTE_KEYS))


def _rule(e: Mapping[str, Variant]) -> Rule:
    return Rule(priority=_value(e.get("priority"), 0), table=_value(e.get("table"), 0),
                from_addr=_value(e.get("from"), None), from_len=_value(e.get("from-len"), 0),
                suppress_prefixlength=_value(e.get("suppress-prefixlength"), None),
                extra=_extra(e, _RULE_KEYS))


def ipv4_settings_without_legacy(ipv4: Mapping[str, Variant]) -> Dict[str, Variant]:
    """Drop ``addresses``/``routes``: NetworkManager prefers them over the new keys."""
    return {k: v for k, v in ipv4.items() if k not in ("addresses", "routes")}


def ipv4_to_settings(config: Ipv4Config) -> Dict[str, Variant]:
    addresses = [{"address": Variant("s", a.address), "prefix": Variant("u", a.prefix)}
                 for a in config.addresses]
    return {
        "address-data": Variant("aa{sv}", addresses),
        "route-data": Variant("aa{sv}", [_route_entry(r) for r in config.routes]),
        "routing-rules": Variant("aa{sv}", [_rule_entry(r) for r in config.rules]),
    }


def _route_entry(route: Route) -> Dict[str, Variant]:
    entry = {"dest": Variant("s", route.dest), "prefix": Variant("u", route.prefix)}
    for key, value in (("next-hop", route.next_hop), ("metric", route.metric),
                       ("table", route.table), ("type", route.type)):
        if value is not None:
            entry[key] = Variant(_ROUTE_KEYS[key], value)
    entry.update(_extra_entries(route.extra))
    return entry


def _rule_entry(rule: Rule) -> Dict[str, Variant]:
    entry = {"family": Variant("i", AF_INET), "priority": Variant("u", rule.priority)}
    if rule.table:
        entry["table"] = Variant("u", rule.table)
    if rule.from_addr is not None:
        entry["from"] = Variant("s", rule.from_addr)
        entry["from-len"] = Variant("y", rule.from_len)
    if rule.suppress_prefixlength is not None:
        entry["suppress-prefixlength"] = Variant("i", rule.suppress_prefixlength)
    entry.update(_extra_entries(rule.extra))
    return entry


def _extra_entries(extra: tuple) -> Dict[str, Variant]:
    return {key: Variant(sig, list(value) if isinstance(value, tuple) else value)
            for key, sig, value in extra}
