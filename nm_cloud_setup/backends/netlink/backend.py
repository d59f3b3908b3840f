"""The kernel backend, synchronous, for hosts without NetworkManager.

It reads a device's kernel state (both address families, through ``kernel.py``),
lets ``ownership`` decide the difference (only its own entries are ever removed),
applies it (the cloud's MTU too, ``ip link set mtu``), and keeps the record of what it
added, and of the MTU it set with the one before, in
``STATE_DIR/netlink-owned.json``.  A device
already as wanted gets no netlink change at all.  A link whose IPv6 is disabled
(``net.ipv6.conf.IF.disable_ipv6``) gets no IPv6 change.  A NIC of static networks
that is down (OpenStack: nobody configures it) is brought up with its MTU and
configured whole (``make_nic``); its name servers are left to the system's
resolver.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Collection, Dict, List, Mapping, Optional, Sequence

from nm_cloud_setup.backends.base import Backend, ListsForeign, MakesNics, RemovesLeftovers
from nm_cloud_setup.backends.netlink import ownership
from nm_cloud_setup.backends.netlink.guard import Entry, Owned, foreign_rules, left_in_place
from nm_cloud_setup.backends.netlink.kernel import Change, Kernel
from nm_cloud_setup.backends.netlink.ownership import KernelView, Record
from nm_cloud_setup.backends.netlink.requests import route_args, route_text, rule_args, rule_text
from nm_cloud_setup.backends.netlink.sysctl import ipv6_off, promote_secondaries
from nm_cloud_setup.errors import ApplyError, NoAppliedConnectionError
from nm_cloud_setup.model import Address, Current, Device, IpConfig, Route, Rule
from nm_cloud_setup.planning.tables import Tables

LOG = logging.getLogger(__name__)

RECORD = "netlink-owned.json"


class Netlink(Backend, RemovesLeftovers, MakesNics, ListsForeign):
    name = "netlink"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._kernel = Kernel()
        self.changes = 0
        # One dump of routes and rules per run, kept current as changes are made.
        self._routes_by_oif: Optional[Dict[int, List[Route]]] = None
        self._all_rules: Optional[List[Rule]] = None
        self._addresses_by_index: Optional[Dict[int, List[Address]]] = None
        self._record: Optional[Record] = None
        self._entries: Optional[List[Entry]] = None  # for status: every address and route
        self._last: Optional[tuple] = None

    def close(self) -> None:
        self._kernel.close()

    # -- reading ---------------------------------------------------------------

    def devices(self, map_interfaces: Mapping[str, str]) -> List[Device]:
        """Ethernet links (physical or veth, not enslaved), keyed by permanent MAC."""
        result = []
        for link in self._kernel.links():
            if not link.ethernet:
                continue
            mac = map_interfaces.get(link.ifname) or link.mac
            if mac is not None:
                result.append(Device(mac=mac, ifname=link.ifname, handle=str(link.index)))
        return result

    def current(self, device: Device) -> Current:
        """What this backend owns on the device and is in the kernel, in the plan's form.

        The token is the link index: deciding and applying read the run's live view
        and record, so a Current read before other devices changed stays usable.
        """
        index = int(device.handle)
        link = self._kernel.link(index)  # None: unplugged since the list was made
        if link is None or not link.up:
            raise NoAppliedConnectionError(f'link "{device.ifname}" is down or gone')
        view = self._view(index)
        record = self._load_record()
        present, rules = set(view.addresses), set(view.rules)
        owned = IpConfig(
            tuple(a for a in record.addresses.get(device.ifname, []) if a in present),
            tuple(ownership.plan_route(r) for r in view.routes),
            tuple(r for r in record.rules.get(device.ifname, []) if r in rules))
        off = ipv6_off(device.ifname)
        ours = device.ifname in record.links
        before, mine = ownership.own_mtu(record, device.ifname)
        return Current(label=f'"{device.ifname}"', own=IpConfig(mtu=before),
                       applied=dataclasses.replace(owned, mtu=link.mtu), token=index,
                       families_off=((6, off),) if off else (), ours=ours, mtu_set=mine)

    def _view(self, index: int) -> KernelView:
        return KernelView(tuple(self._addresses().get(index, [])),
                          tuple(self._routes().get(index, [])), tuple(self._rules()))

    def _addresses(self) -> Dict[int, List[Address]]:
        """Every address of both families, by link index."""
        if self._addresses_by_index is None:
            self._addresses_by_index = self._kernel.addresses()
        return self._addresses_by_index

    def _routes(self) -> Dict[int, List[Route]]:
        """Our routes (protocol PROTO) of both families in any table, by outgoing link."""
        if self._routes_by_oif is None:
            self._routes_by_oif = self._kernel.routes(ownership.PROTO)
        return self._routes_by_oif

    def _rules(self) -> List[Rule]:
        if self._all_rules is None:
            self._all_rules = self._kernel.rules()
        return self._all_rules

    def foreign(self, device: Device, current: Current, known: IpConfig,
                tables: Tables) -> List[str]:
        """Another program's addresses and routes of the device (``guard.left_in_place``);
        what this backend added is in ``known`` (its current configuration)."""
        owned = Owned(frozenset(a.address for a in known.addresses),
                      frozenset((r.table or ownership.TABLE_MAIN, r.dest, r.prefix)
                                for r in known.routes))
        if self._entries is None:
            self._entries = self._kernel.entries()
        return left_in_place(self._entries, int(device.handle), owned, tables)

    def foreign_rules(self, known: Collection[Rule], tables: Tables) -> List[str]:
        return foreign_rules(self._rules(), known, tables)

    def reads_kernel(self) -> bool:
        return True

    # -- deciding --------------------------------------------------------------

    def _changes(self, current: Current, wanted: IpConfig):
        """The diff and the record after it, from the live view and record, computed once
        per (current, wanted, record): the pipeline asks in_sync, then describe or apply,
        with the same two.  Every apply saves a new record."""
        record = self._load_record()
        key = (current, wanted, record)
        if self._last is None or any(a is not b for a, b in zip(self._last[0], key)):
            ifname = current.label.strip('"')
            diff = ownership.changes(self._view(current.token), record, ifname, wanted)
            after = ownership.recorded(record, ifname, wanted, diff)
            after = ownership.with_mtu(after, ifname, current.applied.mtu, wanted.mtu)
            self._last = (key, diff, after)
        return self._last[1], self._last[2]

    def in_sync(self, current: Current, wanted: IpConfig) -> bool:
        diff, after = self._changes(current, wanted)
        return (not diff and after == self._load_record()
                and not _mtu_change(current, wanted))

    def describe(self, device: Device, current: Current, wanted: IpConfig) -> List[str]:
        """The change as equivalent ``ip`` command lines."""
        diff, _ = self._changes(current, wanted)
        dev = device.ifname
        lines = [f"ip -{r.family} rule del {rule_text(r)}" for r in diff.remove_rules]
        lines += [f"ip -{r.family} route del {route_text(r, dev)}" for r in diff.remove_routes]
        lines += [f"ip -{a.family} addr del {a} dev {dev}" for a in diff.remove_addresses]
        lines += [f"ip -{a.family} addr add {a} dev {dev}" for a in diff.add_addresses]
        lines += [f"ip -{r.family} route add {route_text(r, dev)}" for r in diff.add_routes]
        lines += [f"ip -{r.family} rule add {rule_text(r)}" for r in diff.add_rules]
        if _mtu_change(current, wanted):
            lines.insert(0, f"ip link set dev {dev} mtu {wanted.mtu}")
        return lines or [f"# {dev}: only the ownership record changes"]

    # -- writing ---------------------------------------------------------------

    def apply(self, device: Device, current: Current, wanted: IpConfig) -> None:
        diff, after = self._changes(current, wanted)
        record = self._load_record()
        for label, items in (("add address", diff.add_addresses), ("add route", diff.add_routes),
                             ("add rule", diff.add_rules),
                             ("remove address", diff.remove_addresses),
                             ("remove route", diff.remove_routes),
                             ("remove rule", diff.remove_rules)):
            for item in items:
                LOG.debug("netlink %s: %s %s", device.ifname, label, item)
        # Write ahead: what is about to be added is recorded first, so a crash
        # between the two never leaves an entry nobody owns.
        ahead = Record({**after.addresses, device.ifname: list(dict.fromkeys(
                           record.addresses.get(device.ifname, []) + list(diff.add_addresses)))},
                       {**after.rules, device.ifname: list(dict.fromkeys(
                           record.rules.get(device.ifname, []) + list(diff.add_rules)))},
                       after.links, after.mtus)
        self._save_record(ahead)
        index = int(device.handle)
        if _mtu_change(current, wanted):  # first: what is added next sees the link's MTU
            LOG.debug("netlink %s: MTU %s -> %d", device.ifname, current.applied.mtu,
                      wanted.mtu)
            self._apply([("link", "set", {"index": index, "mtu": wanted.mtu}, None)])
        # Each step a batch of its own: one that fails stops the steps after it.
        self._apply([("rule", "del", rule_args(rule), None) for rule in diff.remove_rules])
        self._apply([("route", "del", route_args(route, index), None)
                     for route in diff.remove_routes])
        if any(a.family == 4 for a in diff.remove_addresses):
            promote_secondaries(device.ifname)
        self._apply([("addr", "del", _address_args(index, address), None)
                     for address in diff.remove_addresses])
        self._apply([("addr", "add", _address_args(index, address), None)
                     for address in diff.add_addresses])
        self._apply([("route", "add", route_args(route, index), None)
                     for route in diff.add_routes])
        self._apply([("rule", "add", rule_args(rule), None) for rule in diff.add_rules])
        self._save_record(after)
        self._remember(index, diff)

    # -- NICs of static networks (OpenStack) -----------------------------------

    def generated(self, device: Device) -> bool:
        """No system default configures a NIC here: one that is down is nobody's."""
        return False

    def make_nic(self, device: Device, iface: Any, wanted: IpConfig) -> None:
        """Bring up a NIC nobody configures (its networks are static) and configure it
        whole: recorded as this backend's, then as any other device."""
        index = int(device.handle)
        record = self._load_record()
        self._save_record(dataclasses.replace(
            record, links=list(dict.fromkeys(record.links + [device.ifname])),
            mtus={d: m for d, m in record.mtus.items() if d != device.ifname}))
        self._apply([("link", "set", {"index": index, "state": "up",
                                      **({"mtu": wanted.mtu} if wanted.mtu else {})}, None)])
        if wanted.dns:
            LOG.info("netlink %s: the name servers %s are left to the system's resolver",
                     device.ifname, " ".join(wanted.dns))
        current = self.current(device)
        self.apply(device, current, wanted)

    def remove_stale(self, named: object = None) -> List[str]:
        """Forget the NICs of static networks this backend brought up whose link is gone:
        the kernel took their addresses and routes along, their rules are removed here
        (but those another device holds too).  Their names."""
        record = self._load_record()
        present = {link.ifname for link in self._kernel.links()}
        return self._forget([name for name in record.links if name not in present])

    def remove_leftovers(self, devices: Sequence[Device]) -> List[str]:
        """Remove the rules this backend added for interfaces that are gone; their names."""
        record = self._load_record()
        listed = {d.ifname for d in devices}
        gone = [name for name in sorted(set(record.addresses) | set(record.rules)
                                        | set(record.mtus))
                if (record.addresses.get(name) or record.rules.get(name) or name in record.mtus)
                and name not in listed and not self._kernel.exists(name)]
        return self._forget(gone)

    def _forget(self, gone: List[str]) -> List[str]:
        """Remove the rules of the interfaces ``gone`` (but those another one holds too)
        and forget them; ``gone``."""
        if not gone:
            return []
        for name in gone:
            LOG.info("netlink: %s is gone: forgotten, its rules removed", name)
        remove, after = ownership.leftovers(self._load_record(), gone, self._rules())
        for rule in remove:
            LOG.debug("netlink: remove rule %s of %s, which is gone", rule, ", ".join(gone))
        self._apply([("rule", "del", rule_args(rule), None) for rule in remove])
        self._save_record(after)
        removed = set(remove)
        self._rules()[:] = [r for r in self._rules() if r not in removed]
        return gone

    def _remember(self, index: int, diff) -> None:
        """Keep the run's dump current (the next device sees this one's changes)."""
        addresses = self._addresses().setdefault(index, [])
        removed_addresses = set(diff.remove_addresses)
        addresses[:] = [a for a in addresses if a not in removed_addresses] + list(
            diff.add_addresses)
        routes = self._routes().setdefault(index, [])
        removed = set(diff.remove_routes)
        routes[:] = [r for r in routes if r not in removed] + list(diff.add_routes)
        removed_rules = set(diff.remove_rules)
        rules = self._rules()
        rules[:] = [r for r in rules if r not in removed_rules] + list(diff.add_rules)

    def _apply(self, changes: List[Change]) -> None:
        """Make ``changes`` in one batch; ``ApplyError`` for the first that failed."""
        if changes:
            made, error = self._kernel.apply(changes)
            self.changes += made
            if error is not None:
                raise error

    # -- the record ------------------------------------------------------------

    def _load_record(self) -> Record:
        if self._record is not None:
            return self._record
        path = self.state_dir / RECORD
        try:
            self._record = Record.from_json(path.read_text())
        except FileNotFoundError:
            self._record = Record()
        except (OSError, ValueError) as err:
            LOG.warning("netlink: ignoring the unreadable record %s (%s)", path, err)
            self._record = Record()
        return self._record

    def _save_record(self, record: Record) -> None:
        import tempfile  # only when writing: it costs shutil, bz2, lzma at start-up

        try:
            self.state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.state_dir, prefix=".owned-",
                                             delete=False) as tmp:
                tmp.write(record.to_json())
            os.replace(tmp.name, self.state_dir / RECORD)
            self._record = record
        except OSError as err:
            raise ApplyError(f"cannot write {self.state_dir / RECORD} ({err}); without it, "
                             "what this backend adds could not be removed later") from None


def _address_args(index: int, address: Address) -> dict:
    return {"index": index, "address": address.address, "prefixlen": address.prefix}


def _mtu_change(current: Current, wanted: IpConfig) -> bool:
    """True when the link's MTU is to change (None: left as it is)."""
    return wanted.mtu is not None and wanted.mtu != current.applied.mtu
