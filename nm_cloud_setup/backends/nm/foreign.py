"""Keeping, through a Reapply, what is not NetworkManager's (docs/sharing.md, "Foreign
entries").

A Reapply can drop another program's addresses and routes from the device: without
the preserve-external-ip flag, NetworkManager deletes the IPv4 ones it did not add;
while the connection's IPv6 is active, NetworkManager turns the device's IPv6 off
and on, and the kernel deletes every IPv6 address and route with it.  Before such
a Reapply, the kernel side (``cli.py`` makes it: ``backends/netlink/for_nm.py``) is
told what of the device is NetworkManager's own; it puts back at once whatever
else the Reapply drops.  A Reapply that can drop nothing (the flag, and IPv6 off)
costs nothing here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Collection, Dict, Iterable, List, Optional, Set, Tuple

from nm_cloud_setup.backends.nm import settings as nm_settings
from nm_cloud_setup.backends.nm.dbus import NM, Bus
from nm_cloud_setup.backends.nm.settings import Settings
from nm_cloud_setup.errors import BackendError
from nm_cloud_setup.model import Device, IpConfig, Rule
from nm_cloud_setup.planning.tables import Tables

LOG = logging.getLogger(__name__)

DEVICE = f"{NM}.Device"
TABLE_MAIN = 254
IPV6_QUIET = ("ignore", "disabled")  # methods under which a Reapply leaves IPv6 alone
RouteKey = Tuple[Optional[int], str, int, Optional[int]]  # table, destination, prefix, metric
_DHCP = ((4, "Dhcp4Config", "DHCP4Config", "ip_address"),
         (6, "Dhcp6Config", "DHCP6Config", "ip6_address"))


def drops(settings: Settings, flags: int) -> bool:
    """Whether a Reapply of ``settings`` with ``flags`` may drop another's entries."""
    bounces = "ipv6" in settings and nm_settings.method(settings, 6) not in IPV6_QUIET
    return bounces or not flags & nm_settings.REAPPLY_PRESERVE_EXTERNAL_IP


def owned(before: Settings, after: Settings, dynamic: Iterable[str]
          ) -> Tuple[Set[str], Set[Tuple[int, str, int]], Set[str]]:
    """NetworkManager's own of a device across a Reapply: addresses (IPs), routes
    ``(table, dest, prefix)`` and gateways, from the connection before and after it,
    and ``dynamic`` (its DHCP addresses)."""
    addresses, routes, gateways = set(dynamic), set(), set()
    for settings in (before, after):
        config = nm_settings.config_from_settings(settings)
        addresses |= {a.address for a in config.addresses}
        routes |= {(r.table or TABLE_MAIN, r.dest, r.prefix) for r in config.routes}
        for family in (4, 6):
            gateway = settings.get(nm_settings.SETTING[family], {}).get("gateway")
            if gateway is not None and gateway.value:
                gateways.add(str(gateway.value))
    return addresses, routes, gateways


class ForeignGuard:
    """The guard of one run: ``protect`` before each Reapply, ``finish`` at the end.
    ``kernel`` gives the kernel side (made once, when first needed)."""

    def __init__(self, bus: Bus, kernel: Optional[Callable[[], Any]]) -> None:
        self._bus = bus
        self._kernel = kernel
        self._macs: Dict[str, str] = {}
        self._left: Dict[str, Set[RouteKey]] = {}  # routes taken away, per device
        self._final: Dict[str, Set[RouteKey]] = {}  # its routes after its last Reapply
        self._active = False
        self._off = kernel is None

    def protect(self, device: Device, before: Settings, after: Settings, flags: int) -> None:
        if self._off or not drops(after, flags):
            return
        try:
            kernel = self._kernel() if self._kernel is not None else None
            if kernel is None:
                return
            addresses, routes, gateways = owned(before, after, self._dhcp(device))
            foreign = kernel.protect(device.ifname, addresses, routes, gateways)
        except (BackendError, OSError) as err:
            LOG.warning("config device %s: another program's addresses and routes are not "
                        "guarded through the Reapply: %s", device.mac, err)
            self._off = True
            return
        self._active = True
        self._macs[device.ifname] = device.mac
        if not flags & nm_settings.REAPPLY_PRESERVE_EXTERNAL_IP:
            self._leaving(device.ifname, before, after)
        if foreign:
            LOG.debug("config device %s: not NetworkManager's, kept through the Reapply: %s",
                      device.mac, ", ".join(e.text for e in foreign))

    def _leaving(self, ifname: str, before: Settings, after: Settings) -> None:
        """Note the routes of tables other than main that this Reapply takes away.

        A Reapply without preserve-external-ip is NetworkManager's "reapply" commit:
        before 1.52 it prunes the main table only and forgets what it had put in the
        others, so a route taken away from table 30200+IDX (a subnet resized) would
        stay in the kernel.  They are removed at the end of the run (``finish``)."""
        def others(settings: Settings) -> Set[RouteKey]:
            return {(r.table, r.dest, r.prefix, r.metric)
                    for r in nm_settings.config_from_settings(settings).routes
                    if r.table not in (None, 0, TABLE_MAIN)}
        self._left.setdefault(ifname, set()).update(others(before))
        self._final[ifname] = others(after)

    def _dhcp(self, device: Device) -> List[str]:
        """The device's DHCP addresses (NetworkManager's own, though no setting names
        them): both families asked side by side."""
        return self._bus.run(self._adhcp(device))

    async def _adhcp(self, device: Device) -> List[str]:
        paths = await asyncio.gather(*(self._bus.aprop(device.handle, DEVICE, prop)
                                       for _, prop, _, _ in _DHCP))
        asked = [(path, interface, option) for path, (_, _, interface, option)
                 in zip(paths, _DHCP) if path and path != "/"]
        found = []
        for (_, _, option), options in zip(asked, await asyncio.gather(
                *(self._bus.aprop(path, f"{NM}.{interface}", "Options")
                  for path, interface, _ in asked))):
            value = options.get(option)
            if value is not None:
                found += str(value.value).split()
        return found

    def left_in_place(self, device: Device, settings: Settings, known: IpConfig,
                      tables: Tables) -> List[str]:
        """Another program's entries of the device (``status``, ``--dry-run``)."""
        if self._kernel is None:
            return []
        try:
            addresses, routes, gateways = owned(settings, settings, self._dhcp(device))
            addresses |= {a.address for a in known.addresses}
            routes |= {(r.table or TABLE_MAIN, r.dest, r.prefix) for r in known.routes}
            return self._kernel().left_in_place(device.ifname, addresses, routes, gateways,
                                                tables)
        except (BackendError, OSError) as err:
            return [f"(cannot tell: {err})"]

    def foreign_rules(self, known: Collection[Rule], tables: Tables) -> List[str]:
        if self._kernel is None:
            return []
        try:
            return self._kernel().foreign_rules(known, tables)
        except (BackendError, OSError) as err:
            return [f"(cannot tell: {err})"]

    def finish(self) -> None:
        """Wait until NetworkManager is done, and say what was put back."""
        if not self._active or self._kernel is None:
            return
        LOG.debug("guard: the Reapplies are done; watching until NetworkManager settles")
        kernel = self._kernel()
        for ifname, entry, missing in kernel.finish():
            LOG.info("config device %s: put back %s, which the Reapply dropped (missing for "
                     "%.1f ms)", self._macs.get(ifname, ifname), entry, missing * 1000)
        stale = {ifname: left - self._final.get(ifname, set())
                 for ifname, left in self._left.items()}
        try:
            removed = kernel.prune({ifname: keys for ifname, keys in stale.items() if keys})
        except (BackendError, OSError) as err:
            LOG.warning("routes the Reapply took away are not removed from the kernel: %s", err)
            return
        for ifname, entry in removed:
            LOG.debug("config device %s: removed %s, which NetworkManager left in the kernel "
                      "when the Reapply took it away", self._macs.get(ifname, ifname), entry)
