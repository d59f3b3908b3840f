"""Amazon EC2 instance metadata (IMDS), with IMDSv2 tokens.

Requests per run: token, MAC listing, then per local NIC ``device-number``,
``local-ipv4s`` and ``subnet-ipv4-cidr-block`` (at most ``concurrency`` at once).
EC2-compatible servers without the token PUT are served with plain GETs.
"""

from __future__ import annotations

import logging
from typing import List, Mapping, Optional

from nm_cloud_setup.config import normalize_mac
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.providers.base import (Provider, TokenAuth, check_in_subnet, check_indexes,
                                           parse_index, parse_ipv4_list, parse_subnet,
                                           per_mac_interfaces)

LOG = logging.getLogger(__name__)

API = "/2018-09-24/meta-data"
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL = 180
KEYS = ("device-number", "local-ipv4s", "subnet-ipv4-cidr-block")


def parse_mac_list(text: str) -> List[str]:
    """The ``macs/`` listing: one ``aa:bb:cc:dd:ee:ff/`` per line -> normalised MACs."""
    macs = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        mac = normalize_mac(line.rstrip("/"))
        if mac is None:
            raise MetadataError(f"invalid MAC address {line[:40]!r} in the interface list")
        if mac in macs:
            raise MetadataError(f"duplicate MAC address {mac} in the interface list")
        macs.append(mac)
    if not macs:
        raise MetadataError("the interface list is empty")
    return macs


def parse_interface(mac: str, position: int, values: Mapping[str, Optional[str]]) -> InterfaceData:
    """One NIC from its keys' bodies (None: the key answered 404)."""
    addresses_text = values.get("local-ipv4s")
    subnet_text = values.get("subnet-ipv4-cidr-block")
    if addresses_text is None or subnet_text is None:
        missing = "local-ipv4s" if addresses_text is None else "subnet-ipv4-cidr-block"
        raise MetadataError(f"{missing} not (yet) available for {mac}")
    addresses = parse_ipv4_list(addresses_text)
    subnet = parse_subnet(subnet_text)
    check_in_subnet(addresses, subnet)
    number = values.get("device-number")
    index = parse_index(number) if number is not None else position
    return InterfaceData(mac, index, addresses, subnet)


class Ec2(Provider):
    key = "ec2"
    name = "ec2"
    default_host = "http://169.254.169.254"

    def __init__(self, client, options=None) -> None:
        super().__init__(client, options)
        self.auth = TokenAuth(client, TOKEN_PATH, "X-aws-ec2-metadata-token-ttl-seconds",
                              "X-aws-ec2-metadata-token", TOKEN_TTL)

    def get(self, path: str) -> str:
        return self.auth.get(path)

    def detect(self) -> None:
        self.auth.refresh()
        if not self.auth.supported:
            self.get("/latest/meta-data/")

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        listing = parse_mac_list(self.get(f"{API}/network/interfaces/macs/"))
        results = self.fetch_all(self.per_mac_jobs(
            listing, macs, lambda mac, key: f"{API}/network/interfaces/macs/{mac.lower()}/{key}",
            KEYS))
        interfaces = per_mac_interfaces(
            listing, macs, results, KEYS,
            lambda position, mac, values: parse_interface(mac, position, values))
        return InstanceData(self.name, tuple(check_indexes(interfaces)))
