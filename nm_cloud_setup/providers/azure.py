"""Microsoft Azure IMDS.

One request: ``/metadata/instance/network?api-version=2021-02-01`` (header
``Metadata: true``), fetched while detecting and reused, so a run costs one
request.  Only if that document is refused does it walk upstream's text form
(``format=text&api-version=2017-04-02``, one request per item).  Azure allows 5
requests per second per VM: requests are paced below that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Mapping, Tuple

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.providers.base import (BulkProvider, check_in_subnet, checked,
                                           listed_nics, parse_index, parse_ipv4, parse_json,
                                           subnet_of)

LOG = logging.getLogger(__name__)

NETWORK = "/metadata/instance/network?api-version=2021-02-01"
WALK_VERSION = "2017-04-02"
WALK = "/metadata/instance/network/interface/"
DETECT_WALK = f"/metadata/instance?format=text&api-version={WALK_VERSION}"


@dataclass(frozen=True)
class RawNic:
    """One ``interface`` entry as it came: values unchecked."""

    mac: str
    addresses: Tuple[str, ...]
    subnet_address: str
    subnet_prefix: str


def parse_network(text: str) -> List[RawNic]:
    """The network document -> its interfaces, in the order given."""
    doc = parse_json(text, "the Azure network document")
    if not isinstance(doc, dict) or not isinstance(doc.get("interface"), list):
        raise MetadataError("the Azure network document has no 'interface' list")
    nics = []
    for idx, nic in enumerate(doc["interface"]):
        try:
            ipv4 = nic["ipv4"]
            addresses = tuple(str(entry["privateIpAddress"]) for entry in ipv4["ipAddress"])
            subnet = ipv4["subnet"][0]
            nics.append(RawNic(str(nic["macAddress"]), addresses, str(subnet["address"]),
                               str(subnet["prefix"])))
        except (KeyError, IndexError, TypeError):
            raise MetadataError(f"Azure interface[{idx}] lacks macAddress, ipv4.ipAddress or "
                                "ipv4.subnet") from None
    return nics


def interface_from(idx: int, mac: str, raw: RawNic) -> InterfaceData:
    """Check one NIC's values; MetadataError names the bad one."""
    addresses = tuple(dict.fromkeys(parse_ipv4(a) for a in raw.addresses))
    if not addresses:
        raise MetadataError("no IPv4 address")
    for address in addresses:
        LOG.debug("interface[%d]: received address %s", idx, address)
    subnet_address = parse_ipv4(raw.subnet_address, "subnet address")
    LOG.debug("interface[%d]: received subnet address %s", idx, subnet_address)
    prefix = parse_index(raw.subnet_prefix, "subnet prefix")
    if not 1 <= prefix <= 30:
        raise MetadataError(f"invalid subnet prefix {prefix}")
    LOG.debug("interface[%d]: received subnet prefix %d", idx, prefix)
    subnet = subnet_of(subnet_address, prefix)
    check_in_subnet(addresses, subnet)
    return InterfaceData(mac, idx, addresses, subnet)


class Azure(BulkProvider):
    key = "azure"
    name = "azure"
    default_host = "http://169.254.169.254"
    headers = {"Metadata": "true"}
    rate = 4.5  # the limit is 5 per second per VM
    bulk_path = NETWORK
    walk_probe = DETECT_WALK

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        if self.walking:
            return self._get_walked(macs)
        raw = parse_network(self.bulk())
        LOG.debug("found azure interfaces: %d", len(raw))
        interfaces = []
        for idx, mac in _local_nics([n.mac for n in raw], macs):
            interfaces.append(checked(mac, idx, interface_from, idx, mac, raw[idx]))
        return InstanceData(self.name, tuple(interfaces))

    def _get_walked(self, macs: Mapping[str, str]) -> InstanceData:
        indexes = [_walk_index(line) for line in self._walk_get("").split()]
        LOG.debug("found azure interfaces: %d", len(indexes))
        mac_texts = self.fetch_all({i: self._walker(f"{i}/macAddress") for i in indexes})
        for value in mac_texts.values():
            if isinstance(value, CloudSetupError):
                raise value
        interfaces = []
        local = _local_nics([str(mac_texts[i]) for i in indexes], macs)
        details = self.fetch_all({i: (lambda i=i: self._walk_nic(i)) for i, _ in local})
        for idx, mac in local:
            raw = details[idx]
            if isinstance(raw, CloudSetupError):
                interfaces.append(InterfaceData(mac, idx, error=str(raw)))
            else:
                interfaces.append(checked(mac, idx, interface_from, idx, mac, raw))
        return InstanceData(self.name, tuple(interfaces))

    def _walk_nic(self, idx: int) -> RawNic:
        listing = self._walk_get(f"{idx}/ipv4/ipAddress/").split()
        paths = {k: self._walker(f"{idx}/ipv4/ipAddress/{_walk_index(k)}/privateIpAddress")
                 for k in listing}
        paths["address"] = self._walker(f"{idx}/ipv4/subnet/0/address/")
        paths["prefix"] = self._walker(f"{idx}/ipv4/subnet/0/prefix/")
        values = self.fetch_all(paths)
        for value in values.values():
            if isinstance(value, CloudSetupError):
                raise value
        return RawNic("", tuple(str(values[k]) for k in listing), str(values["address"]),
                      str(values["prefix"]))

    def _walk_get(self, rest: str) -> str:
        return self.get(f"{WALK}{rest}?format=text&api-version={WALK_VERSION}")

    def _walker(self, rest: str):
        return lambda: self._walk_get(rest).strip()


def _walk_index(line: str) -> int:
    return parse_index(line.rstrip("/"), "interface index")


def _local_nics(mac_texts: List[str], macs: Mapping[str, str]) -> List[Tuple[int, str]]:
    """(index, MAC) of the listed NICs that are local."""
    result = []
    for idx, mac in listed_nics("azure", mac_texts):
        if mac in macs:
            LOG.debug("interface[%d]: found a matching device with hwaddr %s", idx, mac)
            result.append((idx, mac))
    return result
