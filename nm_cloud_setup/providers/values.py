"""Validators shared by the providers' parsers: each returns a normalised value or
raises ``MetadataError`` naming what is wrong (never an empty answer)."""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any, Optional, Sequence

from nm_cloud_setup.errors import MetadataError

LOG = logging.getLogger(__name__)

MAX_ADDRESSES_PER_NIC = 1024
MTU_MIN = {4: 576, 6: 1280}  # RFC 791's datagram every host accepts; RFC 8200's link MTU
MTU_MAX = 65535  # the IPv4 total length field


def text_or_none(value: Any) -> Optional[str]:
    """A metadata value shown as text (numbers too), stripped and bounded; None when
    absent or empty."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip()[:255] or None


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise MetadataError(f"{what} is not valid JSON ({err})") from None


def field(obj: Any, key: str, kind: type, what: str) -> Any:
    """``obj[key]`` of type ``kind``, or MetadataError naming what is wrong."""
    if not isinstance(obj, dict):
        raise MetadataError(f"{what} is not a JSON object")
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise MetadataError(f"{what}: {key!r} is missing or not a {kind.__name__}")
    return value


def parse_ipv4(text: str, what: str = "address") -> str:
    """A unicast IPv4 address a NIC can hold, normalised; MetadataError otherwise."""
    value = text.strip()
    try:
        addr = ipaddress.IPv4Address(value)
    except ValueError:
        raise MetadataError(f"invalid IPv4 {what} {quote(value)}") from None
    if (addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_link_local
            or addr.is_reserved):
        raise MetadataError(f"IPv4 {what} {addr} cannot be assigned to a NIC")
    return str(addr)


def parse_ipv4_list(text: str, what: str = "address") -> tuple:
    """Newline-separated addresses, first (the primary) first, duplicates dropped."""
    items = [line for line in (raw.strip() for raw in text.splitlines()) if line]
    if not items:
        raise MetadataError(f"empty {what} list")
    if len(items) > MAX_ADDRESSES_PER_NIC:
        raise MetadataError(f"{len(items)} addresses for one NIC (more than "
                            f"{MAX_ADDRESSES_PER_NIC}): refusing")
    return tuple(dict.fromkeys(parse_ipv4(item, what) for item in items))


def parse_netmask(text: str) -> int:
    """A dotted netmask -> prefix length (1..32)."""
    value = text.strip()
    try:
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{value}").prefixlen
    except ValueError:
        raise MetadataError(f"invalid IPv4 netmask {quote(value)}") from None
    if not 1 <= prefix <= 32:
        raise MetadataError(f"IPv4 netmask {quote(value)} has no usable prefix length (1..32)")
    return prefix


def subnet_of(address: str, prefix: int) -> str:
    return str(ipaddress.IPv4Network(f"{address}/{prefix}", strict=False))


def parse_cidr(text: str, what: str = "range") -> str:
    """An IPv4 CIDR (or a bare address: /32) for a local route, host bits cleared."""
    value = text.strip()
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise MetadataError(f"invalid IPv4 {what} {quote(value)}") from None
    if net.prefixlen < 8 or net.is_loopback or net.is_multicast or net.is_link_local:
        raise MetadataError(f"IPv4 {what} {net} cannot be delivered to a NIC")
    return str(net)


def parse_subnet(text: str) -> str:
    """An IPv4 subnet ``A.B.C.D/N`` (host bits cleared), prefix 1..32."""
    value = text.strip()
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise MetadataError(f"invalid IPv4 subnet {quote(value)}") from None
    if "/" not in value or not 1 <= net.prefixlen <= 32:
        raise MetadataError(f"IPv4 subnet {quote(value)} has no usable prefix length (1..32)")
    return str(net)


def warn_outside_subnet(mac: str, addresses: Sequence[str], subnet: str) -> None:
    """Log the addresses outside the NIC's subnet: they are used all the same, with the
    subnet's prefix (and a route for their own subnet), as upstream does."""
    net = ipaddress.IPv4Network(subnet)
    for address in addresses:
        if ipaddress.IPv4Address(address) not in net:
            LOG.warning("get-config: %s: address %s is outside the NIC's subnet %s; adding it "
                        "with the subnet's prefix, as upstream does", mac, address, subnet)


def parse_index(text: str, what: str = "device-number") -> int:
    value = text.strip()
    if not value.isdigit() or int(value) > 65535:
        raise MetadataError(f"invalid {what} {quote(value)}")
    return int(value)


def quote(value: str, limit: int = 60) -> str:
    shown = value if len(value) <= limit else value[:limit] + "..."
    return repr(shown)


def parse_mtu(value: Any, ipv6: bool = False) -> Optional[int]:
    """A NIC's MTU from the metadata (a number, or its text), None when absent;
    MetadataError when it is no number or out of range (``ipv6``: the NIC carries IPv6,
    which needs 1280).  Never applied half-checked: such a NIC is left as it is."""
    if value is None:
        return None
    number = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int):
        raise MetadataError(f"invalid MTU {quote(str(value))}: not a number")
    low = MTU_MIN[6 if ipv6 else 4]
    if not low <= number <= MTU_MAX:
        needs = "with IPv6 " if ipv6 else ""
        raise MetadataError(f"invalid MTU {number}: {needs}it must be {low} to {MTU_MAX}")
    return number
