"""Alibaba Cloud ECS metadata.

With hardened mode's session token when the server offers one (PUT
``/latest/api/token``).  One request: ``/latest/meta-data/all`` (JSON), fetched
while detecting and reused; only if it is refused, upstream's per-MAC keys.
Gateway and netmask come from the metadata; the subnet is the primary address
masked by the netmask (upstream takes the VPC block's address instead, a wrong
route whenever the vSwitch is not the VPC's first block).  Primary address first, the others sorted.
"""

from __future__ import annotations

import json
import logging
from typing import Any, List, Mapping

from nm_cloud_setup.config import normalize_mac
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.providers.base import (BulkProvider, TokenAuth, check_in_subnet, checked,
                                           parse_ipv4, parse_json, parse_netmask,
                                           per_mac_interfaces, subnet_of)
from nm_cloud_setup.providers.ec2 import parse_mac_list

LOG = logging.getLogger(__name__)

ALL = "/latest/meta-data/all"
API = "/2016-01-01/meta-data"
KEYS = ("private-ipv4s", "primary-ip-address", "netmask", "gateway")


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
    if not isinstance(values, dict):
        raise MetadataError("the interface's entry is not an object")
    for key in KEYS:
        kinds = (str, list) if key == "private-ipv4s" else (str,)
        if not isinstance(values.get(key), kinds):
            raise MetadataError(f"{key} is missing")
    primary = parse_ipv4(values["primary-ip-address"])
    # The service lists them in any order: sorted, so that a rerun sees the same list.
    others = sorted((parse_ipv4(a) for a in parse_ip_list(values["private-ipv4s"])),
                    key=lambda a: tuple(int(part) for part in a.split(".")))
    addresses = tuple(dict.fromkeys([primary] + others))
    subnet = subnet_of(primary, parse_netmask(values["netmask"]))
    check_in_subnet(addresses, subnet)
    return InterfaceData(mac, idx, addresses, subnet, gateway=parse_ipv4(values["gateway"],
                                                                         "gateway"))


class Aliyun(BulkProvider):
    key = "aliyun"
    name = "aliyun"
    default_host = "http://100.100.100.200"
    bulk_path = ALL
    walk_probe = f"{API}/"
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
        for idx, (text, values) in enumerate(entries):
            mac = normalize_mac(text)
            if mac is None or mac not in macs:
                LOG.debug("get-config: skip fetching meta data for %s (%s)", text, "not local")
                continue
            LOG.debug("get-config: start fetching meta data for #%d, %s (%s)", idx, mac, macs[mac])
            interfaces.append(checked(mac, idx, interface_from, idx, mac, values))
        return InstanceData(self.name, tuple(interfaces))

    def _walked(self, macs: Mapping[str, str]) -> InstanceData:
        listing = parse_mac_list(self.get(f"{API}/network/interfaces/macs/"))
        results = self.fetch_all(self.per_mac_jobs(
            listing, macs, lambda mac, key: f"{API}/network/interfaces/macs/{mac.lower()}/{key}",
            KEYS))
        return InstanceData(self.name, tuple(per_mac_interfaces(listing, macs, results, KEYS,
                                                                interface_from)))

