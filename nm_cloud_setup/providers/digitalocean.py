"""DigitalOcean droplet metadata (beyond upstream).

One request: ``/metadata/v1.json``, fetched while detecting and reused (no
header needed).  ``interfaces.public[]`` and ``interfaces.private[]`` list the
NICs, matched by ``mac``; each has ``ipv4 {ip_address, netmask, gateway}``, the
public one also ``ipv6 {ip_address, cidr, gateway}`` and ``anchor_ipv4
{ip_address, netmask, gateway}``: the address reserved IPs are delivered to,
in its own subnet with its own gateway (a further network of the NIC).  Table
index: the NIC's position, public ones first.  The document is an object; the
published OpenAPI schema calls it an array, so a one-element array is accepted.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, List, Mapping, Optional, Tuple

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import (Identity, InstanceData, InterfaceData, Network, NicIdentity,
                                  normalize_mac)
from nm_cloud_setup.providers.base import (BulkProvider, checked, field, parse_ipv4, parse_json,
                                           parse_netmask, subnet_of, text_or_none)

LOG = logging.getLogger(__name__)

DOCUMENT = "/metadata/v1.json"
KINDS = ("public", "private")


def parse_document(text: str) -> dict:
    doc = parse_json(text, "the DigitalOcean metadata document")
    if isinstance(doc, list) and len(doc) == 1:
        doc = doc[0]
    if not isinstance(doc, dict) or not isinstance(doc.get("interfaces"), dict):
        raise MetadataError("the DigitalOcean metadata document has no 'interfaces' object")
    return doc


def listed(doc: dict) -> List[Tuple[int, str, str, Any]]:
    """(index, kind, MAC text, entry) of every listed NIC, public ones first."""
    result = []
    for kind in KINDS:
        entries = doc["interfaces"].get(kind)
        entries = [] if entries is None else entries
        if not isinstance(entries, list):
            raise MetadataError(f"interfaces.{kind} is not a list")
        for entry in entries:
            mac = entry.get("mac") if isinstance(entry, dict) else None
            result.append((len(result), kind, mac if isinstance(mac, str) else "", entry))
    return result


def parse_interfaces(text: str, macs: Mapping[str, str]) -> List[InterfaceData]:
    """The local NICs of the document (a bad NIC is an InterfaceData with an error)."""
    result = []
    seen = set()
    for idx, _, mac_text, entry in listed(parse_document(text)):
        mac = normalize_mac(mac_text)
        if mac is None or mac in seen:
            LOG.info("interface[%d]: invalid or duplicate MAC address %r returned", idx,
                     mac_text[:40])
            continue
        seen.add(mac)
        if mac in macs:
            result.append(checked(mac, idx, interface_from, idx, mac, entry))
    return result


def _ipv4(block: Any, what: str) -> Tuple[str, str, Optional[str]]:
    """(address, subnet, gateway) of an ``ipv4``/``anchor_ipv4`` block."""
    address = parse_ipv4(field(block, "ip_address", str, what))
    subnet = subnet_of(address, parse_netmask(field(block, "netmask", str, what)))
    gateway = block.get("gateway")
    if gateway in (None, "", "0.0.0.0"):
        return address, subnet, None
    if not isinstance(gateway, str):
        raise MetadataError(f"{what}: 'gateway' is not a string")
    gateway = parse_ipv4(gateway, "gateway")
    if ipaddress.IPv4Address(gateway) not in ipaddress.IPv4Network(subnet):
        raise MetadataError(f"{what}: gateway {gateway} is outside {subnet}")
    return address, subnet, gateway


def interface_from(idx: int, mac: str, entry: Any) -> InterfaceData:
    address, subnet, gateway = _ipv4(field(entry, "ipv4", dict, "interface"), "ipv4")
    extra: Tuple[Network, ...] = ()
    anchor = entry.get("anchor_ipv4")
    if anchor is not None:
        a_address, a_subnet, a_gateway = _ipv4(anchor, "anchor_ipv4")
        if a_subnet == subnet:
            raise MetadataError(f"anchor_ipv4 {a_address} is in the NIC's own subnet {subnet}")
        extra = (Network(a_subnet, (a_address,), a_gateway),)
    v6_addresses: Tuple[str, ...] = ()
    v6_subnet = v6_gateway = None
    if entry.get("ipv6") is not None:
        v6_address, v6_subnet, v6_gateway = _ipv6(entry["ipv6"])
        v6_addresses = (v6_address,)
    return InterfaceData(mac, idx, (address,), subnet, gateway, extra_networks=extra,
                         ipv6_addresses=v6_addresses, ipv6_subnet=v6_subnet,
                         ipv6_gateway=v6_gateway)


def _ipv6(block: Any) -> Tuple[str, str, Optional[str]]:
    text = field(block, "ip_address", str, "ipv6")
    cidr = block.get("cidr")
    if isinstance(cidr, str) and cidr.isdigit():
        cidr = int(cidr)
    if not isinstance(cidr, int) or isinstance(cidr, bool) or not 1 <= cidr <= 128:
        raise MetadataError(f"ipv6: invalid 'cidr' {cidr!r}")
    try:
        address = ipaddress.IPv6Address(text.strip())
        gateway = block.get("gateway")
        gateway = str(ipaddress.IPv6Address(gateway.strip())) if isinstance(gateway, str) \
            and gateway.strip() else None
    except ValueError:
        raise MetadataError(f"ipv6: invalid address {text[:60]!r} or gateway") from None
    if address.is_multicast or address.is_loopback or address.is_unspecified:
        raise MetadataError(f"ipv6: {address} cannot be assigned to a NIC")
    return str(address), str(ipaddress.IPv6Network(f"{address}/{cidr}", strict=False)), gateway


def parse_identity(text: str) -> Identity:
    """Droplet ID, hostname, region; per NIC its public addresses; an active reserved IP."""
    doc = parse_document(text)
    nics = []
    for _, kind, mac_text, entry in listed(doc):
        mac = normalize_mac(mac_text)
        if mac is None or kind != "public":
            continue
        v4 = _value(entry.get("ipv4"), "ip_address")
        v6 = _value(entry.get("ipv6"), "ip_address")
        try:
            v6 = str(ipaddress.IPv6Address(v6)) if v6 else None  # DO writes every group out
        except ValueError:
            pass
        nics.append(NicIdentity(mac, (v4,) if v4 else (), (v6,) if v6 else ()))
    reserved = []
    for key in ("reserved_ip", "floating_ip"):
        block = doc.get(key, {}).get("ipv4") if isinstance(doc.get(key), dict) else None
        if isinstance(block, dict) and block.get("active") is True:
            reserved.append(_value(block, "ip_address"))
    droplet = doc.get("droplet_id")
    return Identity(instance_id=None if droplet is None else str(droplet),
                    region=_value(doc, "region"), hostname=_value(doc, "hostname"),
                    public_ipv4=tuple(dict.fromkeys(r for r in reserved if r)),
                    nics=tuple(nics))


def _value(block: Any, key: str) -> Optional[str]:
    return text_or_none(block.get(key)) if isinstance(block, dict) else None


class DigitalOcean(BulkProvider):
    key = "digitalocean"
    default_host = "http://169.254.169.254"
    bulk_path = DOCUMENT

    def __init__(self, client, options=None) -> None:
        super().__init__(client, options)
        self._used: Optional[str] = None

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        self._used = self.bulk()
        return InstanceData(self.name, tuple(parse_interfaces(self._used, macs)))

    def identity(self, instance: InstanceData) -> Identity:
        """From the document this run already fetched: no further request."""
        return parse_identity(self._used if self._used is not None else self.get(DOCUMENT))
