"""Plain, frozen values: what the metadata says, and what a device should hold.

No I/O here and no imports from the rest of the project.  Addresses are
strings in their compressed form (dotted quads, or IPv6 as ``ipaddress``
writes it), prefixes ints; MACs are upper case ``AA:BB:CC:DD:EE:FF``
(``normalize_mac``).  An
address's or route's family follows from its text; a rule carries its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Tuple, TypeVar

FAMILIES = (4, 6)

# Keys of an NM route or rule this project does not model, kept as they came:
# (key, D-Bus signature, value), sorted by key.
Extra = Tuple[Tuple[str, str, object], ...]

_TRUE = ("yes", "y", "true", "1", "on")
_FALSE = ("no", "n", "false", "0", "off")
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$")


def normalize_mac(text: str) -> Optional[str]:
    """``aa-bb-cc-dd-ee-ff``, ``aabbccddeeff``... -> ``AA:BB:CC:DD:EE:FF``; None if no MAC."""
    text = text.strip()
    if not _MAC_RE.match(text):
        return None
    digits = re.sub(r"[:-]", "", text).upper()
    if len(digits) != 12:
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def parse_bool(text: str) -> Optional[bool]:
    """Upstream's boolean forms (yes/no, true/false, 1/0, on/off, y/n); None for others."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def family_of(address: str) -> int:
    """4 or 6, from an address's text."""
    return 6 if ":" in address else 4


@dataclass(frozen=True)
class Address:
    address: str
    prefix: int

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix}"

    @property
    def family(self) -> int:
        return family_of(self.address)


@dataclass(frozen=True)
class Route:
    dest: str
    prefix: int
    next_hop: Optional[str] = None
    metric: Optional[int] = None
    table: Optional[int] = None
    type: Optional[str] = None
    extra: Extra = ()

    def __str__(self) -> str:
        text = f"{self.dest}/{self.prefix}"
        if self.next_hop:
            text += f" {self.next_hop}"
        if self.metric is not None:
            text += f" {self.metric}"
        if self.table is not None:
            text += f" table={self.table}"
        if self.type:
            text += f" type={self.type}"
        return text

    @property
    def family(self) -> int:
        return family_of(self.dest)


@dataclass(frozen=True)
class Rule:
    """A routing rule; ``family`` 4 or 6 (a rule without ``from`` tells no family itself)."""

    priority: int
    table: int
    from_addr: Optional[str] = None
    from_len: int = 0
    suppress_prefixlength: Optional[int] = None
    extra: Extra = ()
    family: int = 4

    def __str__(self) -> str:
        text = f"priority {self.priority}"
        if self.from_addr:
            text += f" from {self.from_addr}/{self.from_len}"
        text += f" table {self.table}"
        if self.suppress_prefixlength is not None:
            text += f" suppress_prefixlength {self.suppress_prefixlength}"
        return text


T = TypeVar("T", Address, Route, Rule)


def _of(family: int, items: Iterable[T]) -> Tuple[T, ...]:
    return tuple(item for item in items if item.family == family)


@dataclass(frozen=True)
class IpConfig:
    """The addresses, routes and rules of one device or profile, both families.

    Entries of the two families sit side by side; ``family(6)`` is the IPv6 view.
    ``mtu`` is the one link-level item the cloud may set (GCP, OpenStack); None leaves
    the MTU to the profile and DHCP.  ``dns``: name servers, IPv4 ones first (as a
    connection holds them); only a profile this tool made gets the cloud's.
    """

    addresses: Tuple[Address, ...] = ()
    routes: Tuple[Route, ...] = ()
    rules: Tuple[Rule, ...] = ()
    mtu: Optional[int] = None
    dns: Tuple[str, ...] = ()

    def family(self, family: int) -> "IpConfig":
        """Only the entries of one family (no MTU, no DNS)."""
        return IpConfig(_of(family, self.addresses), _of(family, self.routes),
                        _of(family, self.rules))

    def with_family(self, family: int, other: "IpConfig") -> "IpConfig":
        """This config with ``family``'s entries taken from ``other`` instead."""
        def merged(mine: Tuple[T, ...], theirs: Tuple[T, ...]) -> Tuple[T, ...]:
            return tuple(i for i in mine if i.family != family) + _of(family, theirs)

        return IpConfig(merged(self.addresses, other.addresses),
                        merged(self.routes, other.routes), merged(self.rules, other.rules),
                        self.mtu, self.dns)

    def same_as(self, other: "IpConfig") -> bool:
        """Equal where it matters: each family's first (primary) address; the rest, routes
        and rules as sets (their order carries no meaning)."""
        return (all(_of(f, self.addresses)[:1] == _of(f, other.addresses)[:1]
                    for f in FAMILIES)
                and frozenset(self.addresses) == frozenset(other.addresses)
                and frozenset(self.routes) == frozenset(other.routes)
                and frozenset(self.rules) == frozenset(other.rules)
                and self.mtu == other.mtu and self.dns == other.dns)


# The name the IPv4-only code used: the same class.
Ipv4Config = IpConfig


@dataclass(frozen=True)
class Network:
    """A further subnet on a NIC, with its own gateway and addresses (IPv4 or IPv6).

    DigitalOcean's anchor address sits in another subnet than the NIC's public
    address, with its own gateway: such a subnet is one of these.
    """

    subnet: str
    addresses: Tuple[str, ...]
    gateway: Optional[str] = None


@dataclass(frozen=True)
class VirtualLink:
    """A VLAN or bond the metadata names (OpenStack's ``vlan`` and ``bond`` links).

    ``ifname``: the device to make (``eth1.42``, ``bond0``).  A VLAN sits on the NIC
    ``parent_mac`` or on the bond ``parent_bond`` (its ifname), with ``vlan_id``;
    ``parent_mtu`` is its parent link's MTU.  A bond joins the NICs ``members``
    (MACs) with ``options`` (NetworkManager's names: ``mode``, ``miimon``, ...).
    """

    kind: str
    ifname: str
    parent_mac: Optional[str] = None
    parent_bond: Optional[str] = None
    parent_mtu: Optional[int] = None
    vlan_id: Optional[int] = None
    members: Tuple[str, ...] = ()
    options: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InterfaceData:
    """One NIC as the metadata service describes it.

    ``index`` chooses the NIC's routing tables (30200+index, 30400+index).
    ``local_routes`` are CIDRs the cloud delivers to the VM itself (GCP forwarded
    IPs, alias ranges): they get ``type local`` routes.  ``routes`` are
    (CIDR, gateway) pairs for the NIC's table (OpenStack).  ``vlan_tag`` and
    ``parent_mac`` describe an OCI bare-metal VNIC reached through a VLAN.
    ``error`` is set when its data could not be fetched or parsed: such a NIC
    keeps whatever configuration it has.  ``ipv6_addresses``, ``ipv6_subnet`` and
    ``ipv6_gateway`` are the IPv6 counterparts of ``addresses``, ``subnet`` and
    ``gateway``; ``extra_networks`` are further subnets of the NIC, each with its
    own gateway.  OpenStack also says how each family is configured
    (``ipv4_method``, ``ipv6_method``: ``manual`` for static networks, ``auto`` for
    DHCP and SLAAC, None for no network of that family), the name servers of
    static networks (``dns``, IPv4 first), and for a VLAN or bond, ``link``.
    ``interface_id`` is the cloud's id of the NIC, where it gives one.  ``card``: the
    network card the NIC sits on (EC2's multi-card types; 0 elsewhere): ``index``
    then counts within the card, and (card, index) chooses the tables.  ``delegated``:
    prefixes the cloud routes to the NIC (EC2's ``ipv4-prefix``, ``ipv6-prefix``), which
    get source rules to its tables; ``delegated_addresses``: host addresses taken from
    them for the NIC itself.
    """

    mac: str
    index: int
    addresses: Tuple[str, ...] = ()
    subnet: Optional[str] = None
    gateway: Optional[str] = None
    local_routes: Tuple[str, ...] = ()
    routes: Tuple[Tuple[str, str], ...] = ()
    mtu: Optional[int] = None
    vlan_tag: Optional[int] = None
    parent_mac: Optional[str] = None
    error: Optional[str] = None
    ipv6_addresses: Tuple[str, ...] = ()
    ipv6_subnet: Optional[str] = None
    ipv6_gateway: Optional[str] = None
    extra_networks: Tuple[Network, ...] = ()
    ipv4_method: Optional[str] = None
    ipv6_method: Optional[str] = None
    dns: Tuple[str, ...] = ()
    link: Optional[VirtualLink] = None
    interface_id: Optional[str] = None
    card: int = 0
    delegated: Tuple[str, ...] = ()
    delegated_addresses: Tuple[str, ...] = ()

    @property
    def static(self) -> bool:
        """Configured by nobody but the metadata: a static network of either family and
        no DHCPv4 (such a NIC gets a profile of its own when allowed)."""
        return "manual" in (self.ipv4_method, self.ipv6_method) and self.ipv4_method != "auto"

    @property
    def has_addresses(self) -> bool:
        return self.error is None and bool(self.addresses) and self.subnet is not None

    @property
    def has_ipv6_addresses(self) -> bool:
        return self.error is None and bool(self.ipv6_addresses) and self.ipv6_subnet is not None

    @property
    def valid(self) -> bool:
        """Usable data: addresses with their subnet, or locally delivered routes (upstream)."""
        return self.has_addresses or (self.error is None and bool(self.local_routes))

    def addresses_of(self, family: int) -> Tuple[str, ...]:
        return self.addresses if family == 4 else self.ipv6_addresses


@dataclass(frozen=True)
class InstanceData:
    """What one provider said about the whole instance.

    ``unmatched``: MACs the metadata lists that are no local NIC's (not fetched).
    ``dhcp``: local NICs the metadata leaves to DHCP alone (OpenStack's
    ``ipv4_dhcp``): no data of theirs to apply, but NICs all the same.
    """

    provider: str
    interfaces: Tuple[InterfaceData, ...] = field(default_factory=tuple)
    unmatched: Tuple[str, ...] = ()
    dhcp: Tuple[str, ...] = ()

    def by_mac(self, mac: str) -> Optional[InterfaceData]:
        for iface in self.interfaces:
            if iface.mac == mac:
                return iface
        return None

    @property
    def failed(self) -> Tuple[InterfaceData, ...]:
        return tuple(iface for iface in self.interfaces if iface.error is not None)


@dataclass(frozen=True)
class NicIdentity:
    """The public addresses the metadata names for one NIC (``status`` only)."""

    mac: str
    public_ipv4: Tuple[str, ...] = ()
    public_ipv6: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """Who the instance is, as its provider's metadata says (``status`` only).

    Each field is None (or empty) where the provider's metadata has no such key.
    ``public_ipv4`` holds instance-wide public addresses that belong to no listed
    NIC (Hetzner's public NIC, an Aliyun EIP, a DigitalOcean reserved IP).
    """

    instance_id: Optional[str] = None
    instance_type: Optional[str] = None
    region: Optional[str] = None
    zone: Optional[str] = None
    hostname: Optional[str] = None
    public_ipv4: Tuple[str, ...] = ()
    nics: Tuple[NicIdentity, ...] = ()

    def nic(self, mac: str) -> Optional[NicIdentity]:
        for nic in self.nics:
            if nic.mac == mac:
                return nic
        return None


@dataclass(frozen=True)
class Device:
    """A local NIC as a backend sees it; ``handle`` is the backend's own reference."""

    mac: str
    ifname: str
    handle: str


@dataclass(frozen=True)
class Current:
    """What a backend reports for one device before applying.

    ``own``: the entries the profile itself holds (always kept).  ``applied``:
    what is applied now.  ``skip``: why to leave the device alone, in upstream's
    words, or None.  ``token``: the backend's own data for applying.
    ``families_off``: (family, reason) of each address family to leave exactly as
    it is applied (e.g. ``ipv6.method ignore``).  ``ours``: the profile is one this
    tool made (a NIC, VLAN or bond of a static network): its own entries are the
    metadata's, not the profile's.  ``mtu_set``: the MTU this tool set on the device
    in an earlier run, as its record says (``planning/mtu.py``).
    """

    label: str
    own: IpConfig
    applied: IpConfig
    skip: Optional[str] = None
    token: object = None
    families_off: Tuple[Tuple[int, str], ...] = ()
    ours: bool = False
    mtu_set: Optional[int] = None
