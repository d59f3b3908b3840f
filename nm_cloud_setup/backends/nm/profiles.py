"""New NetworkManager profiles: built, recognised and retired over plain values.  Pure.

OpenStack's NICs of static networks, its VLANs and bonds, get profiles of this
tool's own, added in memory only (``AddConnection2`` with ``IN_MEMORY``: kept
under /run, gone at reboot, never in the keyfile directory) and marked with
user data: upstream's origin key, and ``MADE_FOR_KEY`` saying what each is for
(``nic IFNAME MAC``, ``carrier``, ``slave``, ``vlan IFNAME``, ``bond IFNAME``).
A NIC's profile goes when its device is gone; a VLAN's or bond's when the
metadata no longer names it.  OCI bare metal's MACVLAN and VLAN profiles are
upstream's: persistent, with the origin key only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from nm_cloud_setup.backends.nm.settings import (MADE_FOR_KEY, ORIGIN_KEY, WIRED, Settings, Value,
                                                 made_for, with_config)
from nm_cloud_setup.model import Address, InterfaceData, IpConfig

# Settings.AddConnection2 flags, Settings.Connection.Flags bits (NetworkManager's D-Bus API).
ADD_IN_MEMORY = 0x2
ADD_BLOCK_AUTOCONNECT = 0x20
FLAG_UNSAVED = 0x1
FLAG_NM_GENERATED = 0x2
FLAG_EXTERNAL = 0x8
METHODS = {4: {"manual": "manual", "auto": "auto", None: "disabled"},
           6: {"manual": "manual", "auto": "auto", None: "ignore"}}


def name_of(ifname: str) -> str:
    """The profile name (``connection.id``) of a device's profile made here."""
    return f"nm-cloud-setup {ifname}"


def nic(ifname: str, iface: InterfaceData, wanted: IpConfig) -> Settings:
    """A NIC of static networks: its addresses, routes, rules, MTU and name servers.

    IPv4 ``disabled`` and IPv6 ``ignore`` where the metadata names no network of
    the family (no DHCP to wait for; the kernel's own IPv6 stays)."""
    return _with_ip(_base(ifname, WIRED, f"nic {ifname} {iface.mac}"), iface, wanted)


def carrier(ifname: str, mac: str, mtu: Optional[int]) -> Settings:
    """A NIC that only carries VLANs: up, no addresses of its own."""
    settings = _base(ifname, WIRED, f"carrier {ifname} {mac}")
    settings["ipv4"] = {"method": Value("s", "disabled")}
    settings["ipv6"] = {"method": Value("s", "disabled")}
    if mtu:
        settings[WIRED] = {"mtu": Value("u", mtu)}
    return settings


def vlan(iface: InterfaceData, parent: str, wanted: IpConfig) -> Settings:
    """A VLAN on the device ``parent``, with the link's MAC and its networks."""
    link = iface.link
    assert link is not None and link.vlan_id is not None
    settings = _base(link.ifname, "vlan", f"vlan {link.ifname}")
    settings["vlan"] = {"parent": Value("s", parent), "id": Value("u", link.vlan_id)}
    settings[WIRED] = {"cloned-mac-address": _mac(iface.mac)}
    return _with_ip(settings, iface, wanted)


def bond(iface: InterfaceData, wanted: IpConfig) -> Settings:
    """A bond with the link's options and MAC, and its networks."""
    link = iface.link
    assert link is not None
    settings = _base(link.ifname, "bond", f"bond {link.ifname}")
    settings["bond"] = {"options": Value("a{ss}", dict(link.options))}
    settings[WIRED] = {"cloned-mac-address": _mac(iface.mac)}
    if not iface.ipv4_method and not iface.ipv6_method:  # it only carries VLANs
        settings["ipv4"] = {"method": Value("s", "disabled")}
        settings["ipv6"] = {"method": Value("s", "disabled")}
        return settings
    return _with_ip(settings, iface, wanted)


def slave(ifname: str, mac: str, bond_ifname: str) -> Settings:
    """A bond member (no IP settings: the bond has them)."""
    settings = _base(ifname, WIRED, f"slave {ifname} {mac} {bond_ifname}")
    settings["connection"].update(master=Value("s", bond_ifname), **{
        "slave-type": Value("s", "bond")})
    return settings


def _base(ifname: str, kind: str, made: str) -> Settings:
    import uuid

    return {"connection": {"id": Value("s", name_of(ifname)),
                           "uuid": Value("s", str(uuid.uuid4())), "type": Value("s", kind),
                           "interface-name": Value("s", ifname),
                           "autoconnect": Value("b", True)},
            "user": {"data": Value("a{ss}", {ORIGIN_KEY: "nm-cloud-setup",
                                             MADE_FOR_KEY: made})}}


def _with_ip(settings: Settings, iface: InterfaceData, wanted: IpConfig) -> Settings:
    settings["ipv4"] = {"method": Value("s", METHODS[4][iface.ipv4_method])}
    settings["ipv6"] = {"method": Value("s", METHODS[6][iface.ipv6_method])}
    families = [f for f, method in ((4, iface.ipv4_method), (6, iface.ipv6_method)) if method]
    settings.setdefault(WIRED, {})
    return with_config(settings, wanted, families)


def _mac(mac: str) -> Value:
    return Value("ay", bytes.fromhex(mac.replace(":", "")))


# -- OCI bare metal (upstream's profiles) ---------------------------------------------

def oci_macvlan(name: str, parent: str, mac: str) -> Settings:
    """Upstream's MACVLAN with the VNIC's MAC on the physical NIC: no L3."""
    return {"connection": _oci_connection(name, "macvlan", name),
            "macvlan": {"parent": Value("s", parent), "mode": Value("u", 2),
                        "tap": Value("b", False)},
            WIRED: {"cloned-mac-address": _mac(mac)},
            "ipv4": {"method": Value("s", "disabled")},
            "ipv6": {"method": Value("s", "disabled")},
            "user": {"data": Value("a{ss}", {ORIGIN_KEY: "nm-cloud-setup"})}}


def oci_vlan(name: str, parent: str, tag: int, address: Address) -> Settings:
    """Upstream's VLAN on that MACVLAN, with the VNIC's address; its interface name is
    the one NetworkManager derives for upstream's (which names none): ``PARENT.TAG``."""
    return {"connection": _oci_connection(name, "vlan", vlan_ifname(parent, tag)),
            "vlan": {"parent": Value("s", parent), "id": Value("u", tag)},
            "ipv4": {"method": Value("s", "manual"),
                     "address-data": Value("aa{sv}", [
                         {"address": Value("s", address.address),
                          "prefix": Value("u", address.prefix)}])},
            "ipv6": {"method": Value("s", "disabled")},
            "user": {"data": Value("a{ss}", {ORIGIN_KEY: "nm-cloud-setup"})}}


def vlan_ifname(parent: str, tag: int) -> str:
    """NetworkManager's name for a VLAN profile without one (``nm_utils_new_vlan_name``):
    ``PARENT.TAG``, the parent cut so that the whole fits in 15 characters."""
    suffix = f".{tag}"
    return parent[:15 - len(suffix)] + suffix


def _oci_connection(name: str, kind: str, ifname: str) -> Dict[str, Value]:
    import uuid

    return {"id": Value("s", name), "uuid": Value("s", str(uuid.uuid4())),
            "type": Value("s", kind), "interface-name": Value("s", ifname),
            "autoconnect": Value("b", True)}


# -- finding and retiring ours ----------------------------------------------------------

@dataclass(frozen=True)
class Made:
    """A profile this tool made, as found: its handle, what it is for, its flags."""

    handle: str
    kind: str
    ifname: str
    mac: Optional[str]
    flags: int
    master: Optional[str] = None

    @property
    def in_memory(self) -> bool:
        return bool(self.flags & FLAG_UNSAVED)


def made(handle: str, settings: Settings, flags: int) -> Optional[Made]:
    """The profile as one of ours, or None when it is another's."""
    text = made_for(settings)
    if not text:
        return None
    parts = text.split()
    if len(parts) < 2:
        return None
    return Made(handle, parts[0], parts[1], parts[2] if len(parts) > 2 else None, flags,
                parts[3] if len(parts) > 3 else None)


def generated(flags: int) -> bool:
    """NetworkManager's own guess (its default wired connection), not an administrator's
    profile and not an external device's."""
    return bool(flags & FLAG_NM_GENERATED) and not flags & FLAG_EXTERNAL


def find(profiles: Iterable[Made], made_for_text: str) -> Optional[Made]:
    for profile in profiles:
        if f"{profile.kind} {profile.ifname}" == " ".join(made_for_text.split()[:2]):
            return profile
    return None


def stale(profiles: Sequence[Made], present: Mapping[str, Optional[str]],
          named: Optional[Iterable[str]]) -> List[Made]:
    """Ours to remove: in memory, and a NIC's (nic, carrier, slave) whose device is gone or
    now has another MAC, or a VLAN or bond (or a slave of a bond) the metadata no longer
    names.

    ``present``: ifname -> MAC (None: unknown) of the devices there are; ``named``: the
    ifnames of the VLANs and bonds the metadata names (None: unknown, none removed)."""
    result = []
    for profile in profiles:
        if not profile.in_memory:
            continue
        if profile.kind in ("vlan", "bond"):
            gone = named is not None and profile.ifname not in named
        elif profile.master is not None and named is not None and profile.master not in named:
            gone = True  # a bond member whose bond is no more
        else:
            mac = present.get(profile.ifname, "")
            gone = profile.ifname not in present or bool(mac and profile.mac
                                                          and mac != profile.mac)
        if gone:
            result.append(profile)
    return result
