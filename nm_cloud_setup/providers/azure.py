"""Microsoft Azure IMDS.

One request: ``/metadata/instance/network?api-version=2021-02-01`` (header
``Metadata: true``), fetched while detecting and reused, so a run costs one
request.  Only if that document is refused does it walk upstream's text form
(``format=text&api-version=2017-04-02``, one request per item; the walk's first
request is the probe then, so that it costs no more than upstream's).  Azure
allows 5 requests per second per VM: requests are paced below that.  The table
index is the NIC's position in the list, as upstream's.  IPv6: the
``ipv6.ipAddress`` list; Azure's IPv6 subnets are all /64 and its IPv6 router is
the fixed link-local ``fe80::1234:5678:9abc`` (docs/providers/azure.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.providers.base import (BulkProvider, checked, listed_nics, parse_index,
                                           parse_ipv4, parse_json, subnet_of, walk_numbers,
                                           warn_outside_subnet)
from nm_cloud_setup.providers.ipv6 import (check_in_subnet6, parse_ipv6_list, parse_prefix6,
                                           parse_subnet6, subnet6_of)

LOG = logging.getLogger(__name__)

NETWORK = "/metadata/instance/network?api-version=2021-02-01"
WALK_VERSION = "2017-04-02"
WALK = "/metadata/instance/network/interface/"
GATEWAY6 = "fe80::1234:5678:9abc"
PREFIX6 = 64


@dataclass(frozen=True)
class RawNic:
    """One ``interface`` entry as it came: values unchecked."""

    mac: str
    addresses: Tuple[str, ...]
    subnet_address: str
    subnet_prefix: str
    ipv6: Any = None  # the "ipv6" object as it came (checked per NIC)


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
                               str(subnet["prefix"]), nic.get("ipv6")))
        except (KeyError, IndexError, TypeError):
            raise MetadataError(f"Azure interface[{idx}] lacks macAddress, ipv4.ipAddress or "
                                "ipv4.subnet") from None
    return nics


def interface_from(idx: int, mac: str, raw: RawNic, number: Optional[int] = None) -> InterfaceData:
    """Check one NIC's values; MetadataError names the bad one.  ``idx`` is the table
    index; ``number`` the NIC's number in the service's list, for the log lines."""
    number = idx if number is None else number
    addresses = tuple(dict.fromkeys(parse_ipv4(a) for a in raw.addresses))
    if not addresses:
        raise MetadataError("no IPv4 address")
    for address in addresses:
        LOG.debug("interface[%d]: received address %s", number, address)
    subnet_address = parse_ipv4(raw.subnet_address, "subnet address")
    LOG.debug("interface[%d]: received subnet address %s", number, subnet_address)
    prefix = parse_index(raw.subnet_prefix, "subnet prefix")
    if not 1 <= prefix <= 32:
        raise MetadataError(f"invalid subnet prefix {prefix}")
    LOG.debug("interface[%d]: received subnet prefix %d", number, prefix)
    subnet = subnet_of(subnet_address, prefix)
    warn_outside_subnet(mac, addresses, subnet)
    ipv6_addresses, ipv6_subnet = _ipv6(raw.ipv6)
    return InterfaceData(mac, idx, addresses, subnet, ipv6_addresses=ipv6_addresses,
                         ipv6_subnet=ipv6_subnet,
                         ipv6_gateway=GATEWAY6 if ipv6_addresses else None)


def _ipv6(ipv6: Any) -> Tuple[Tuple[str, ...], Any]:
    """The ``ipv6`` object: its addresses, and their subnet (the /64 of the first, unless
    the object names a subnet as ``ipv4`` does)."""
    if ipv6 is None:
        return (), None
    entries = ipv6.get("ipAddress", []) if isinstance(ipv6, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MetadataError("ipv6.ipAddress is not a list of objects")
    addresses = parse_ipv6_list([e.get("privateIpAddress") for e in entries])
    if not addresses:
        return (), None
    subnets = ipv6.get("subnet") or []
    if isinstance(subnets, list) and subnets and isinstance(subnets[0], dict):
        subnet = parse_subnet6(f"{subnets[0].get('address')}/"
                               f"{parse_prefix6(subnets[0].get('prefix'))}")
    else:
        subnet = subnet6_of(addresses[0], PREFIX6)
    check_in_subnet6(addresses, subnet)
    return addresses, subnet


class Azure(BulkProvider):
    key = "azure"
    default_host = "http://169.254.169.254"
    headers = {"Metadata": "true"}
    rate = 4.5  # the limit is 5 per second per VM
    bulk_path = NETWORK
    walk_probe = f"{WALK}?format=text&api-version={WALK_VERSION}"

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        if self.walking:
            return self._get_walked(macs)
        raw = parse_network(self.bulk())
        LOG.debug("found azure interfaces: %d", len(raw))
        interfaces = []
        local, others = _local_nics([n.mac for n in raw], macs)
        for idx, mac in local:
            interfaces.append(checked(mac, idx, interface_from, idx, mac, raw[idx]))
        return InstanceData(self.name, tuple(interfaces), unmatched=others)

    def _get_walked(self, macs: Mapping[str, str]) -> InstanceData:
        """Upstream's walk: the NIC numbers, each NIC's MAC, then for the local ones the
        address list, each address, the subnet's address and prefix."""
        text = self.walk_first()
        numbers = walk_numbers(text if text is not None else self._walk_get(""))
        LOG.debug("found azure interfaces: %d", len(numbers))
        if not numbers:
            raise MetadataError("no Azure interfaces found")
        mac_texts = self.fetch_all({n: self._walker(f"{n}/macAddress") for n in numbers})
        for value in mac_texts.values():
            if isinstance(value, CloudSetupError):
                raise value
        local, others = _local_nics([str(mac_texts[n]) for n in numbers], macs, numbers)
        details = self.fetch_all({i: (lambda i=i: self._walk_nic(numbers[i]))
                                  for i, _ in local})
        interfaces = []
        for idx, mac in local:
            raw = details[idx]
            if isinstance(raw, CloudSetupError):
                interfaces.append(InterfaceData(mac, idx, error=str(raw)))
            else:
                interfaces.append(checked(mac, idx, interface_from, idx, mac, raw,
                                          numbers[idx]))
        return InstanceData(self.name, tuple(interfaces), unmatched=others)

    def _walk_nic(self, number: int) -> RawNic:
        listing = walk_numbers(self._walk_get(f"{number}/ipv4/ipAddress/"))
        paths = {k: self._walker(f"{number}/ipv4/ipAddress/{k}/privateIpAddress")
                 for k in listing}
        paths["address"] = self._walker(f"{number}/ipv4/subnet/0/address/")
        paths["prefix"] = self._walker(f"{number}/ipv4/subnet/0/prefix/")
        paths["ipv6"] = lambda: self._walk_ipv6(number)
        values = self.fetch_all(paths)
        for value in values.values():
            if isinstance(value, CloudSetupError):
                raise value
        return RawNic("", tuple(str(values[k]) for k in listing), str(values["address"]),
                      str(values["prefix"]), values["ipv6"])

    def _walk_ipv6(self, number: int) -> Any:
        """The ``ipv6`` object from the text form: its listing, then each address (a 404
        on the listing: no IPv6; upstream asks for none of it)."""
        listing = self.optional(f"{WALK}{number}/ipv6/ipAddress/?format=text&api-version="
                                f"{WALK_VERSION}")()
        if listing is None:
            return None
        values = [self._walk_get(f"{number}/ipv6/ipAddress/{k}/privateIpAddress").strip()
                  for k in walk_numbers(listing)]
        return {"ipAddress": [{"privateIpAddress": v} for v in values]}

    def _walk_get(self, rest: str) -> str:
        return self.get(f"{WALK}{rest}?format=text&api-version={WALK_VERSION}")

    def _walker(self, rest: str):
        return lambda: self._walk_get(rest).strip()


def _local_nics(mac_texts: List[str], macs: Mapping[str, str],
                numbers: Optional[List[int]] = None) -> Tuple[List[Tuple[int, str]],
                                                              Tuple[str, ...]]:
    """(index, MAC) of the listed NICs that are local, and the MACs that are not.
    ``numbers``: the NICs' numbers in the service's list (upstream's log lines)."""
    local = []
    others = []
    numbers = numbers or list(range(len(mac_texts)))
    for idx, mac in listed_nics("azure", mac_texts, numbers):
        # Upstream's line, for every listed NIC (local or not).
        LOG.debug("interface[%d]: found a matching device with hwaddr %s", numbers[idx], mac)
        if mac in macs:
            local.append((idx, mac))
        else:
            others.append(mac)
    return local, tuple(others)
