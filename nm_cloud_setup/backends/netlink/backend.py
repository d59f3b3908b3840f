"""The kernel backend: the only pyroute2 user, synchronous, for hosts without NetworkManager.

It reads a device's kernel state (both address families), lets ``ownership``
decide the difference (only its own entries are ever removed), applies it, and
keeps the record of what it added in ``STATE_DIR/netlink-owned.json``.  A device
already as wanted gets no netlink change at all.  A link whose IPv6 is disabled
(``net.ipv6.conf.IF.disable_ipv6``) gets no IPv6 change.  A NIC of static networks
that is down (OpenStack: nobody configures it) is brought up with its MTU and
configured whole (``make_nic``); its name servers are left to the system's
resolver.  Uses only the pyroute2 API that 0.7.2 (Debian 12) and 0.9 share.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from pyroute2 import IPRoute, NetlinkError

from nm_cloud_setup.backends.base import Backend, MakesNics, RemovesLeftovers
from nm_cloud_setup.backends.netlink import ownership
from nm_cloud_setup.backends.netlink.ownership import KernelView, Record
from nm_cloud_setup.backends.netlink.requests import describe as describe_args
from nm_cloud_setup.backends.netlink.requests import route_args, route_text, rule_args, rule_text
from nm_cloud_setup.errors import ApplyError, BackendError, NoAppliedConnectionError
from nm_cloud_setup.model import Address, Current, Device, IpConfig, Route, Rule, normalize_mac

LOG = logging.getLogger(__name__)

AF = {4: 2, 6: 10}  # AF_INET, AF_INET6
FAMILY = {2: 4, 10: 6}
ANY = {4: "0.0.0.0", 6: "::"}
ARPHRD_ETHER = 1
IFF_UP = 0x1
RTN_UNICAST, RTN_LOCAL = 1, 2
ETHERNET_KINDS = (None, "veth")
RECORD = "netlink-owned.json"


class Netlink(Backend, RemovesLeftovers, MakesNics):
    name = "netlink"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        try:
            self._ipr = IPRoute()
        except (OSError, NetlinkError) as err:
            raise BackendError(f"cannot open a netlink socket ({err})") from None
        self.changes = 0
        # One dump of routes and rules per run, kept current as changes are made.
        self._routes_by_oif: Optional[Dict[int, List[Route]]] = None
        self._all_rules: Optional[List[Rule]] = None
        self._addresses_by_index: Optional[Dict[int, List[Address]]] = None
        self._record: Optional[Record] = None
        self._last: Optional[tuple] = None

    def close(self) -> None:
        self._ipr.close()

    # -- reading ---------------------------------------------------------------

    def devices(self, map_interfaces: Mapping[str, str]) -> List[Device]:
        """Ethernet links (physical or veth, not enslaved), keyed by permanent MAC."""
        result = []
        for link in self._ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info else None
            if link["ifi_type"] != ARPHRD_ETHER or kind not in ETHERNET_KINDS \
                    or link.get_attr("IFLA_MASTER"):
                continue
            ifname = link.get_attr("IFLA_IFNAME")
            mac = map_interfaces.get(ifname) or normalize_mac(
                link.get_attr("IFLA_PERM_ADDRESS") or link.get_attr("IFLA_ADDRESS") or "")
            if mac is not None:
                result.append(Device(mac=mac, ifname=ifname, handle=str(link["index"])))
        return result

    def current(self, device: Device) -> Current:
        """What this backend owns on the device and is in the kernel, in the plan's form.

        The token is the link index: deciding and applying read the run's live view
        and record, so a Current read before other devices changed stays usable.
        """
        index = int(device.handle)
        try:
            links = self._ipr.get_links(index)
        except NetlinkError:  # unplugged since the list was made
            links = []
        if not links or not links[0]["flags"] & IFF_UP:
            raise NoAppliedConnectionError(f'link "{device.ifname}" is down or gone')
        view = self._view(index)
        record = self._load_record()
        present, rules = set(view.addresses), set(view.rules)
        owned = IpConfig(
            tuple(a for a in record.addresses.get(device.ifname, []) if a in present),
            tuple(ownership.plan_route(r) for r in view.routes),
            tuple(r for r in record.rules.get(device.ifname, []) if r in rules))
        off = _ipv6_off(device.ifname)
        ours = device.ifname in record.links
        if ours:  # its MTU is this backend's too
            owned = IpConfig(owned.addresses, owned.routes, owned.rules, links[0].get_attr(
                "IFLA_MTU"))
        return Current(label=f'"{device.ifname}"', own=IpConfig(), applied=owned, token=index,
                       families_off=((6, off),) if off else (), ours=ours)

    def _view(self, index: int) -> KernelView:
        return KernelView(tuple(self._addresses().get(index, [])),
                          tuple(self._routes().get(index, [])), tuple(self._rules()))

    def _addresses(self) -> Dict[int, List[Address]]:
        """Every address of both families, by interface: one dump per family (pyroute2
        filters by index client-side)."""
        if self._addresses_by_index is None:
            by_index: Dict[int, List[Address]] = {}
            for af in AF.values():
                for msg in self._ipr.get_addr(family=af):
                    by_index.setdefault(msg["index"], []).append(Address(
                        msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"),
                        msg["prefixlen"]))
            self._addresses_by_index = by_index
        return self._addresses_by_index

    def _routes(self) -> Dict[int, List[Route]]:
        """Our routes (protocol PROTO) of both families in any table, by outgoing interface."""
        if self._routes_by_oif is not None:
            return self._routes_by_oif
        by_oif: Dict[int, List[Route]] = {}
        for family, af in AF.items():
            for msg in self._ipr.get_routes(family=af, proto=ownership.PROTO):  # every table
                if msg["proto"] != ownership.PROTO:
                    continue
                by_oif.setdefault(msg.get_attr("RTA_OIF"), []).append(Route(
                    dest=msg.get_attr("RTA_DST") or ANY[family], prefix=msg["dst_len"],
                    next_hop=msg.get_attr("RTA_GATEWAY"), metric=msg.get_attr("RTA_PRIORITY"),
                    table=msg.get_attr("RTA_TABLE") or msg["table"],
                    type="local" if msg["type"] == RTN_LOCAL else None))
        self._routes_by_oif = by_oif
        return by_oif

    def _rules(self) -> List[Rule]:
        if self._all_rules is None:
            self._all_rules = _rules_of(self._ipr)
        return self._all_rules

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
            self._last = (key, diff, ownership.recorded(record, ifname, wanted, diff))
        return self._last[1], self._last[2]

    def in_sync(self, current: Current, wanted: IpConfig) -> bool:
        diff, after = self._changes(current, wanted)
        mtu_ok = not current.ours or wanted.mtu in (None, current.applied.mtu)
        return not diff and after == self._load_record() and mtu_ok

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
                       after.links)
        self._save_record(ahead)
        index = int(device.handle)
        for rule in diff.remove_rules:
            self._change("rule", "del", **rule_args(rule))
        for route in diff.remove_routes:
            self._change("route", "del", **route_args(route, index))
        if any(a.family == 4 for a in diff.remove_addresses):
            _promote_secondaries(device.ifname)
        for address in diff.remove_addresses:
            self._change("addr", "del", index=index, address=address.address,
                         prefixlen=address.prefix)
        for address in diff.add_addresses:
            self._change("addr", "add", index=index, address=address.address,
                         prefixlen=address.prefix)
        for route in diff.add_routes:
            self._change("route", "add", **route_args(route, index))
        for rule in diff.add_rules:
            self._change("rule", "add", **rule_args(rule))
        self._save_record(after)
        self._remember(index, diff)
        if current.ours and wanted.mtu not in (None, current.applied.mtu):
            self._change("link", "set", index=index, mtu=wanted.mtu)
        elif wanted.mtu is not None and not current.ours:
            LOG.debug("netlink: the MTU %d is left to the network configuration", wanted.mtu)

    # -- NICs of static networks (OpenStack) -----------------------------------

    def generated(self, device: Device) -> bool:
        """No system default configures a NIC here: one that is down is nobody's."""
        return False

    def make_nic(self, device: Device, iface: Any, wanted: IpConfig) -> None:
        """Bring up a NIC nobody configures (its networks are static) and configure it
        whole: recorded as this backend's, then as any other device."""
        index = int(device.handle)
        record = self._load_record()
        self._save_record(Record(record.addresses, record.rules,
                                 list(dict.fromkeys(record.links + [device.ifname]))))
        self._change("link", "set", index=index, state="up",
                     **({"mtu": wanted.mtu} if wanted.mtu else {}))
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
        present = {link.get_attr("IFLA_IFNAME") for link in self._ipr.get_links()}
        return self._forget([name for name in record.links if name not in present])

    def remove_leftovers(self, devices: Sequence[Device]) -> List[str]:
        """Remove the rules this backend added for interfaces that are gone; their names."""
        record = self._load_record()
        listed = {d.ifname for d in devices}
        gone = [name for name in sorted(set(record.addresses) | set(record.rules))
                if (record.addresses.get(name) or record.rules.get(name))
                and name not in listed and not self._ipr.link_lookup(ifname=name)]
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
            self._change("rule", "del", **rule_args(rule))
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

    def _change(self, kind: str, command: str, **args: Any) -> None:
        try:
            getattr(self._ipr, kind)(command, **args)
            self.changes += 1
        except NetlinkError as err:
            gone = command == "del" and err.code in (errno.ENOENT, errno.ESRCH,
                                                     errno.EADDRNOTAVAIL)
            there = command == "add" and err.code == errno.EEXIST
            if gone or there:
                return
            raise ApplyError(f"netlink {kind} {command} {describe_args(args)} failed: "
                             f"{os.strerror(err.code)}") from None

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


def _ipv6_off(ifname: str) -> str:
    """Why the link takes no IPv6 change (IPv6 disabled on it, or in the kernel), or ""."""
    try:
        disabled = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").read_text().strip()
    except OSError:
        return "the kernel has no IPv6"
    return f"net.ipv6.conf.{ifname}.disable_ipv6 is 1" if disabled == "1" else ""


def _promote_secondaries(ifname: str) -> None:
    """Let the kernel keep a subnet's other IPv4 addresses when its first one is removed.

    Otherwise removing the address the kernel counts as the subnet's primary removes
    every secondary of that subnet with it, wanted or not.  systemd turns this on for
    all interfaces by default; a namespace or a minimal image may not.
    """
    path = Path("/proc/sys/net/ipv4/conf") / ifname / "promote_secondaries"
    try:
        if path.read_text().strip() == "0":
            path.write_text("1")
            LOG.debug("netlink %s: promote_secondaries turned on", ifname)
    except OSError as err:
        LOG.warning("netlink %s: cannot turn on promote_secondaries (%s): removing an "
                    "address may take others of its subnet with it", ifname, err.strerror)


def _rules_of(ipr) -> List[Rule]:
    """Every rule of both families."""
    rules = []
    for family, af in AF.items():
        for msg in ipr.get_rules(family=af):
            suppress = msg.get_attr("FRA_SUPPRESS_PREFIXLEN")
            rules.append(Rule(
                priority=msg.get_attr("FRA_PRIORITY") or 0,
                table=msg.get_attr("FRA_TABLE") or msg["table"],
                from_addr=msg.get_attr("FRA_SRC"), from_len=msg["src_len"],
                suppress_prefixlength=None if suppress in (None, 0xFFFFFFFF) else suppress,
                family=family))
    return rules


class KernelRules:
    """The kernel's rules and links, for the NetworkManager backend: rules it had given
    NetworkManager, which forgot them in a restart, outlive their NIC; only the
    kernel can tell, and only the kernel can remove them then."""

    def __init__(self) -> None:
        try:
            self._ipr = IPRoute()
        except (OSError, NetlinkError) as err:
            raise BackendError(f"cannot open a netlink socket ({err})") from None

    def rules(self) -> List[Rule]:
        return _rules_of(self._ipr)

    def links(self) -> List[str]:
        return [link.get_attr("IFLA_IFNAME") for link in self._ipr.get_links()]

    def delete(self, rules: Sequence[Rule]) -> None:
        for rule in rules:
            try:
                self._ipr.rule("del", **rule_args(rule, proto=None))
            except NetlinkError as err:
                if err.code not in (errno.ENOENT, errno.ESRCH):
                    raise ApplyError(f"netlink rule del {rule} failed: "
                                     f"{os.strerror(err.code)}") from None

    def close(self) -> None:
        self._ipr.close()
