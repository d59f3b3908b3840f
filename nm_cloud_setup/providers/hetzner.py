"""Hetzner Cloud server metadata (beyond upstream).

One request: ``/hetzner/v1/metadata/private-networks``, YAML, fetched while
detecting and reused.  Per private network: ``ip`` (the primary, by DHCP),
``alias_ips`` (the secondary addresses), ``interface_num`` (the table index:
the public NIC is 0 and is not listed), ``mac_address``, ``network``, ``subnet``,
``gateway``, ``network_id``, ``network_name``.  PyYAML's safe loader parses it,
imported only here and only when this provider runs, with YAML 1.1's base-60
integers switched off: ``86:00:00:20:10:50`` is a MAC, not 1,599,361,850.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from typing import Any, List, Mapping

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import Identity, InstanceData, InterfaceData, normalize_mac
from nm_cloud_setup.providers.base import (MAX_ADDRESSES_PER_NIC, BulkProvider, check_indexes,
                                           checked, field, parse_ipv4, parse_subnet, text_or_none)

LOG = logging.getLogger(__name__)

BASE = "/hetzner/v1/metadata"
PRIVATE_NETWORKS = f"{BASE}/private-networks"
_INT = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)"
                  r"|[-+]?0x[0-9a-fA-F_]+)$")


@functools.lru_cache(maxsize=None)
def _loader():
    """PyYAML's SafeLoader without base-60 integers (imported on first use)."""
    import yaml

    int_tag = "tag:yaml.org,2002:int"

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != int_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(int_tag, _INT, list("-+0123456789"))
    return Loader


def load_yaml(text: str, what: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MetadataError(f"{what} is not valid YAML ({problem})") from None
    except (RecursionError, ValueError) as err:
        raise MetadataError(f"{what} cannot be read ({type(err).__name__})") from None


def parse_private_networks(text: str, macs: Mapping[str, str]) -> List[InterfaceData]:
    """The local NICs of ``private-networks`` (a bad one is an InterfaceData with an error)."""
    doc = load_yaml(text, "private-networks")
    if doc is None:
        return []  # attached to no private network
    if not isinstance(doc, list):
        raise MetadataError("private-networks is not a list")
    result = []
    for position, net in enumerate(doc):
        mac_text = net.get("mac_address") if isinstance(net, dict) else None
        mac = normalize_mac(mac_text) if isinstance(mac_text, str) else None
        if mac is None:
            LOG.warning("hetzner: private network [%d] has no valid 'mac_address': ignoring it",
                        position)
            continue
        if mac not in macs:
            continue
        number = net.get("interface_num", position + 1)
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 65535:
            result.append(InterfaceData(mac, position + 1,
                                        error=f"invalid interface_num {number!r}"))
            continue
        result.append(checked(mac, number, network_from, number, mac, net))
    return check_indexes(result)


def network_from(index: int, mac: str, net: Any) -> InterfaceData:
    primary = parse_ipv4(field(net, "ip", str, "private network"))
    subnet = parse_subnet(field(net, "subnet", str, "private network"))
    aliases = net.get("alias_ips") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise MetadataError("'alias_ips' is not a list of addresses")
    if len(aliases) >= MAX_ADDRESSES_PER_NIC:
        raise MetadataError(f"{len(aliases)} alias IPs for one NIC: refusing")
    inside = ipaddress.IPv4Network(subnet)
    if ipaddress.IPv4Address(primary) not in inside:
        raise MetadataError(f"address {primary} is outside the NIC's subnet {subnet}")
    addresses = [primary]
    for alias in (parse_ipv4(a, "alias IP") for a in aliases):
        if ipaddress.IPv4Address(alias) not in inside:
            LOG.warning("hetzner: alias IP %s of %s is outside the subnet %s: not configured",
                        alias, mac, subnet)
            continue
        addresses.append(alias)
    gateway = net.get("gateway")
    if gateway is not None:
        gateway = parse_ipv4(field(net, "gateway", str, "private network"), "gateway")
    return InterfaceData(mac, index, tuple(dict.fromkeys(addresses)), subnet, gateway)


def parse_identity(text: str) -> Identity:
    """``/hetzner/v1/metadata``: instance-id, hostname, public-ipv4, availability-zone, region."""
    doc = load_yaml(text, "the Hetzner metadata")
    if not isinstance(doc, dict):
        raise MetadataError("the Hetzner metadata is not a YAML mapping")
    public = text_or_none(doc.get("public-ipv4"))
    return Identity(instance_id=text_or_none(doc.get("instance-id")),
                    hostname=text_or_none(doc.get("hostname")),
                    region=text_or_none(doc.get("region")),
                    zone=text_or_none(doc.get("availability-zone")),
                    public_ipv4=(public,) if public else ())


class Hetzner(BulkProvider):
    key = "hetzner"
    default_host = "http://169.254.169.254"
    bulk_path = PRIVATE_NETWORKS

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        return InstanceData(self.name, tuple(parse_private_networks(self.bulk(), macs)))

    def identity(self, instance: InstanceData) -> Identity:
        return parse_identity(self.get(BASE))
