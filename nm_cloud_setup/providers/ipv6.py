"""IPv6 validators shared by the parsers: each returns a normalised value or raises
``MetadataError`` naming the bad one (the NIC then keeps its configuration).

Every IPv6 key is optional in every cloud (upstream reads none): its absence means
no IPv6, never an error; a value that is there must be right.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers.values import MAX_ADDRESSES_PER_NIC, quote


def _ip(text: Any, what: str) -> ipaddress.IPv6Address:
    if not isinstance(text, str):
        raise MetadataError(f"IPv6 {what} {text!r} is not a string")
    value = text.strip()
    try:
        return ipaddress.IPv6Address(value)
    except ValueError:
        pass
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise MetadataError(f"invalid IPv6 {what} {quote(value)}") from None
    raise MetadataError(f"{value} is an IPv4 address where an IPv6 {what} belongs")


def parse_ipv6(text: Any, what: str = "address") -> str:
    """A unicast IPv6 address a NIC can hold (global or unique-local), normalised."""
    addr = _ip(text, what)
    if (addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_link_local
            or addr.ipv4_mapped is not None):
        raise MetadataError(f"IPv6 {what} {addr} cannot be assigned to a NIC")
    return str(addr)


def parse_gateway6(text: Any) -> str:
    """A router's IPv6 address: unicast, link-local allowed (OCI, Azure use one)."""
    addr = _ip(text, "gateway")
    if addr.is_unspecified or addr.is_loopback or addr.is_multicast:
        raise MetadataError(f"IPv6 gateway {addr} cannot be a router")
    return str(addr)


def parse_ipv6_list(items: Any, what: str = "address") -> Tuple[str, ...]:
    """A list of addresses (a JSON list, or newline- or comma-separated text), first
    first, duplicates dropped; empty text is an empty list."""
    if isinstance(items, str):
        text = items.strip().strip("[]").replace('"', "")
        items = [part for part in text.replace(",", "\n").splitlines() if part.strip()]
    if not isinstance(items, list):
        raise MetadataError(f"the IPv6 {what} list is not a list")
    if len(items) > MAX_ADDRESSES_PER_NIC:
        raise MetadataError(f"{len(items)} IPv6 addresses for one NIC (more than "
                            f"{MAX_ADDRESSES_PER_NIC}): refusing")
    return tuple(dict.fromkeys(parse_ipv6(item, what) for item in items))


def parse_subnet6(text: Any) -> str:
    """An IPv6 subnet ``ADDR/N`` (host bits cleared), prefix 1..127."""
    if not isinstance(text, str):
        raise MetadataError(f"IPv6 subnet {text!r} is not a string")
    value = text.strip()
    try:
        net = ipaddress.IPv6Network(value, strict=False)
    except ValueError:
        if isinstance(_try_v4(value), ipaddress.IPv4Network):
            raise MetadataError(f"{value} is an IPv4 subnet where an IPv6 one belongs") from None
        raise MetadataError(f"invalid IPv6 subnet {quote(value)}") from None
    if "/" not in value or not 1 <= net.prefixlen <= 127:
        raise MetadataError(f"IPv6 subnet {quote(value)} has no usable prefix length (1..127)")
    return str(net)


def _try_v4(value: str) -> Optional[ipaddress.IPv4Network]:
    try:
        return ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return None


def subnet6_of(address: str, prefix: int) -> str:
    return str(ipaddress.IPv6Network(f"{address}/{prefix}", strict=False))


def parse_prefix6(value: Any) -> int:
    """An IPv6 prefix length given as a number, a numeric string or a netmask
    (``ffff:ffff:ffff:ffff::``), 1..127."""
    text = str(value).strip()
    if isinstance(value, bool):
        raise MetadataError(f"invalid IPv6 prefix length {value!r}")
    if text.isdigit():
        prefix = int(text)
    else:
        prefix = _mask_length(text)
    if not 1 <= prefix <= 127:
        raise MetadataError(f"IPv6 prefix length {prefix} is not usable (1..127)")
    return prefix


def _mask_length(text: str) -> int:
    """``ffff:ffff:ffff:ffff::`` -> 64; MetadataError unless the ones are contiguous."""
    try:
        bits = int(ipaddress.IPv6Address(text))
    except ValueError:
        bits = -1
    ones = bin(bits).count("1") if bits >= 0 else -1
    if ones < 0 or bits != ((1 << ones) - 1) << (128 - ones):
        raise MetadataError(f"invalid IPv6 prefix length or netmask {quote(text)}")
    return ones


def check_in_subnet6(addresses: Sequence[str], subnet: str) -> None:
    net = ipaddress.IPv6Network(subnet)
    outside = [a for a in addresses if ipaddress.IPv6Address(a) not in net]
    if outside:
        raise MetadataError(f"IPv6 address {outside[0]} is outside the NIC's subnet {subnet}")


def subnet_holding(addresses: Sequence[str], blocks: Iterable[str]) -> str:
    """Of a NIC's subnet blocks (EC2 lists them), the one that holds its first address;
    every address must be in it."""
    checked: List[str] = [parse_subnet6(block) for block in blocks]
    if not checked:
        raise MetadataError("the IPv6 subnet list is empty")
    first = ipaddress.IPv6Address(addresses[0])
    subnet = next((s for s in checked if first in ipaddress.IPv6Network(s)), checked[0])
    check_in_subnet6(addresses, subnet)
    return subnet


def ipv6_part(addresses: Any, subnet: Any, gateway: Any,
              subnet_key: str) -> Tuple[Tuple[str, ...], Optional[str], Optional[str]]:
    """(addresses, subnet, gateway) of a NIC's IPv6 values as a cloud lists them: no
    addresses means no IPv6; with some, their subnet (``subnet_key``) must be there
    and hold them; the gateway is optional."""
    parsed = parse_ipv6_list(addresses or [])
    if not parsed:
        return (), None, None
    if subnet is None:
        raise MetadataError(f"{subnet_key} is missing")
    checked = parse_subnet6(subnet)
    check_in_subnet6(parsed, checked)
    return parsed, checked, parse_gateway6(gateway) if gateway is not None else None


def parse_cidr6(text: Any, what: str = "range") -> str:
    """An IPv6 range (or a bare address: /128) delivered to the VM, for a local route."""
    if not isinstance(text, str):
        raise MetadataError(f"IPv6 {what} {text!r} is not a string")
    value = text.strip()
    try:
        net = ipaddress.IPv6Network(value, strict=False)
    except ValueError:
        if _try_v4(value) is not None:
            raise MetadataError(f"{value} is IPv4 where an IPv6 {what} belongs") from None
        raise MetadataError(f"invalid IPv6 {what} {quote(value)}") from None
    if net.prefixlen < 16 or net.is_loopback or net.is_multicast or net.is_link_local:
        raise MetadataError(f"IPv6 {what} {net} cannot be delivered to a NIC")
    return str(net)
