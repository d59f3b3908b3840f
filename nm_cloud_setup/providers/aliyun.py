"""Alibaba Cloud ECS metadata.

With hardened mode's session token when the server offers one (PUT
``/latest/api/token``).  One request: ``/latest/meta-data/all`` (JSON), fetched
while detecting and reused; only if it is refused, upstream's per-MAC keys (its
listing is the probe then, so the walk costs no more than upstream's).  Gateway
and netmask come from the metadata; the subnet is the primary address masked by
the netmask.  Primary address first, the others sorted.  IPv6 (all optional):
``ipv6s``, in the vSwitch's ``vswitch-ipv6-cidr-block``, via ``ipv6-gateway``; the
walk asks for the last two only when a NIC has ``ipv6s``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, List, Mapping, Optional

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData, normalize_mac
from nm_cloud_setup.providers.base import (BulkProvider, Listed, TokenAuth, checked, parse_ipv4,
                                           parse_json, parse_netmask, per_mac_interfaces, subnet_of,
                                           unmatched, warn_outside_subnet)
from nm_cloud_setup.providers.ipv6 import ipv6_part

LOG = logging.getLogger(__name__)

ALL = "/latest/meta-data/all"
API = "/2016-01-01/meta-data"
MACS = f"{API}/network/interfaces/macs/"
# Upstream's keys but vpc-cidr-block (only its gateway fallback used it).
KEYS = ("private-ipv4s", "primary-ip-address", "netmask", "gateway")
REQUIRED = ("private-ipv4s", "netmask")
IPV6S = "ipv6s"
IPV6_KEYS = ("vswitch-ipv6-cidr-block", "ipv6-gateway")


def parse_all(text: str) -> List[tuple]:
    """``meta-data/all`` -> [(MAC text, {key: value})] in the order given."""
    doc = parse_json(text, "the Aliyun meta-data/all document")
    try:
        macs = doc["network"]["interfaces"]["macs"]
    except (KeyError, TypeError):
        raise MetadataError("meta-data/all has no network.interfaces.macs") from None
    if not isinstance(macs, dict) or not macs:
        raise MetadataError("meta-data/all lists no interfaces")
    return list(macs.items())


def parse_ip_list(value: Any) -> List[str]:
    """``private-ipv4s``: a JSON list, or upstream's bracketed, quoted text."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else text.split(",")
        except ValueError:
            value = text.strip("[]").replace('"', "").split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MetadataError("private-ipv4s is not a list of addresses")
    return [v for v in (item.strip() for item in value) if v]


def interface_from(idx: int, mac: str, values: Any) -> InterfaceData:
    """One NIC from its keys.  As upstream: the addresses and the netmask are needed; a
    primary address or gateway that is missing or not an address is done without
    (logged): the first listed address is then the primary, the gateway the first host."""
    if not isinstance(values, dict):
        raise MetadataError("the interface's entry is not an object")
    for key in REQUIRED:
        kinds = (str, list) if key == "private-ipv4s" else (str,)
        if not isinstance(values.get(key), kinds):
            raise MetadataError(f"{key} is missing")
    listed = [parse_ipv4(a) for a in parse_ip_list(values["private-ipv4s"])]
    primary = _lenient(mac, values, "primary-ip-address", "address")
    if primary is None and not listed:
        raise MetadataError("private-ipv4s lists no address")
    primary = primary or listed[0]
    # The service lists them in any order: sorted, so that a rerun sees the same list.
    others = sorted(listed, key=lambda a: tuple(int(part) for part in a.split(".")))
    addresses = tuple(dict.fromkeys([primary] + others))
    subnet = subnet_of(primary, parse_netmask(values["netmask"]))
    warn_outside_subnet(mac, addresses, subnet)
    ipv6_addresses, ipv6_subnet, ipv6_gateway = _ipv6(values)
    interface_id = values.get("network-interface-id")
    return InterfaceData(mac, idx, addresses, subnet,
                         gateway=_lenient(mac, values, "gateway", "gateway"),
                         ipv6_addresses=ipv6_addresses, ipv6_subnet=ipv6_subnet,
                         ipv6_gateway=ipv6_gateway,
                         interface_id=interface_id if isinstance(interface_id, str) else None)


def _ipv6(values: Mapping[str, Any]) -> tuple:
    """``ipv6s`` (a JSON list, or bracketed text as ``private-ipv4s``), their vSwitch block
    and the gateway; all absent: no IPv6."""
    return ipv6_part(values.get(IPV6S), values.get("vswitch-ipv6-cidr-block"),
                     values.get("ipv6-gateway"), "vswitch-ipv6-cidr-block")


def _lenient(mac: str, values: Mapping[str, Any], key: str, what: str) -> Optional[str]:
    value = values.get(key)
    if value is None:
        LOG.warning("get-config: %s: %s is not given; going without it", mac, key)
        return None
    try:
        return parse_ipv4(str(value), what)
    except MetadataError as err:
        LOG.warning("get-config: %s: %s: %s; going without it", mac, key, err)
        return None


class Aliyun(BulkProvider):
    key = "aliyun"
    default_host = "http://100.100.100.200"
    bulk_path = ALL
    walk_probe = MACS
    refused = (404,)

    def __init__(self, client, options=None) -> None:
        super().__init__(client, options)
        self.auth = TokenAuth(client, "/latest/api/token",
                              "X-aliyun-ecs-metadata-token-ttl-seconds",
                              "X-aliyun-ecs-metadata-token")

    def get(self, path: str) -> str:
        return self.auth.get(path)

    def detect(self) -> None:
        self.auth.refresh()
        super().detect()

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        if self.walking:
            return self._walked(macs)
        entries = parse_all(self.bulk())
        interfaces = []
        listed = []
        for idx, (text, values) in enumerate(entries):
            mac = normalize_mac(text)
            listed.append(mac)
            if mac is None or mac not in macs:
                LOG.debug("get-config: skip fetching meta data for %s (%s)", mac or text, text)
                continue
            LOG.debug("get-config: start fetching meta data for #%d, %s (%s)", idx, mac, text)
            interfaces.append(checked(mac, idx, interface_from, idx, mac, values))
        return InstanceData(self.name, tuple(interfaces),
                            unmatched=unmatched([m for m in listed if m], macs))

    def _walked(self, macs: Mapping[str, str]) -> InstanceData:
        listed = self.listing(MACS, macs, first=self.walk_first())

        def fetch(nic: Listed) -> Dict[str, Any]:
            base = f"{MACS}{nic.path}{'' if nic.path.endswith('/') else '/'}"
            values = self.fetch_keys(base, KEYS)
            values[IPV6S] = self.optional(base + IPV6S)()
            if values[IPV6S] is not None:  # an IPv4-only NIC costs one request for IPv6
                values.update({key: self.optional(base + key)() for key in IPV6_KEYS})
            return values

        results = self.fetch_all(self.per_mac_jobs(listed, macs, fetch))
        return InstanceData(self.name, tuple(per_mac_interfaces(listed, macs, results,
                                                                interface_from)),
                            unmatched=unmatched([n.mac for n in listed], macs))
