"""Google Compute Engine metadata.

One request: ``network-interfaces/?recursive=true&alt=json`` (header
``Metadata-Flavor: Google``), fetched while detecting and reused.  Only if it is
refused does it walk upstream's text form (forwarded IPs only, as upstream; its
listing is the probe then, so the walk costs no more than upstream's).  The load
balancer and the VPC deliver forwarded IPs, target-instance IPs and alias IP ranges
to the VM: each becomes a route ``type local`` (metric 100), as upstream does for
forwarded IPs.  Each kind can be switched off (options ``forwarded_ips``,
``target_instance_ips``, ``alias_ips``).  A NIC without any of them is normal, not
an error.  The table index is the NIC's position in the list, as upstream's.
IPv6 (the document only): forwarded IPv6 ranges (``forwardedIpv6s``) are local
routes too, switched with the forwarded IPs, as Google's guest agent does; the
NIC's own ``ipv6s`` come by DHCPv6 and, as its IPv4 address, are recorded but not
added.  The NIC's ``mtu`` (its VPC network's) is applied as the NIC's MTU (the document
only: the text walk asks upstream's keys, no more).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Tuple

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData, normalize_mac
from nm_cloud_setup.providers.base import (BulkProvider, checked, listed_nics, parse_cidr,
                                           parse_json, walk_numbers)
from nm_cloud_setup.providers.ipv6 import parse_cidr6, parse_ipv6_list
from nm_cloud_setup.providers.values import parse_mtu

LOG = logging.getLogger(__name__)

BASE = "/computeMetadata/v1/instance"
RECURSIVE = f"{BASE}/network-interfaces/?recursive=true&alt=json"
# (JSON key, option)
KINDS = (("forwardedIps", "forwarded_ips"), ("targetInstanceIps", "target_instance_ips"),
         ("ipAliases", "alias_ips"), ("forwardedIpv6s", "forwarded_ips"))
IPV6_KINDS = ("forwardedIpv6s",)


def parse_interfaces(text: str) -> List[Dict[str, Any]]:
    """The recursive JSON -> per NIC ``{"mac": str, KIND: [str, ...]}``."""
    doc = parse_json(text, "the GCP network-interfaces document")
    if not isinstance(doc, list):
        raise MetadataError("the GCP network-interfaces document is not a list")
    nics = []
    for idx, nic in enumerate(doc):
        if not isinstance(nic, dict) or not isinstance(nic.get("mac"), str):
            raise MetadataError(f"GCP interface[{idx}] has no 'mac'")
        entry = {"mac": nic["mac"], "ipv6s": nic.get("ipv6s", []), "mtu": nic.get("mtu")}
        for json_key, _ in KINDS:
            values = nic.get(json_key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise MetadataError(f"GCP interface[{idx}]: {json_key!r} is not a list of strings")
            entry[json_key] = values
        nics.append(entry)
    return nics


def interface_from(number: int, mac: str, nic: Mapping[str, Any],
                   options: Mapping[str, Any], idx: Optional[int] = None) -> InterfaceData:
    """Local routes of one NIC from its lists, per the enabled kinds.  ``idx`` is the
    table index (default ``number``, the NIC's number in the list, which the log
    lines show)."""
    routes: List[str] = []
    for json_key, option in KINDS:
        if not options.get(option, True):
            continue
        values = nic.get(json_key, [])
        if json_key == "forwardedIps":
            LOG.info("GCP interface[%d]: found %d forwarded ips", number, len(values))
        for value in values:
            what = "forwarded IP" if json_key != "ipAliases" else "alias range"
            cidr = parse_cidr6(value, what) if json_key in IPV6_KINDS else parse_cidr(value, what)
            if json_key == "forwardedIps":
                LOG.info("GCP interface[%d]: adding forwarded-ip %s", number, cidr.split("/")[0])
            routes.append(cidr)
    ipv6s = nic.get("ipv6s") or []
    if not isinstance(ipv6s, list):
        raise MetadataError(f"GCP interface[{number}]: 'ipv6s' is not a list")
    ipv6 = bool(ipv6s) or any(":" in cidr for cidr in routes)
    return InterfaceData(mac, number if idx is None else idx,
                         local_routes=tuple(dict.fromkeys(routes)),
                         ipv6_addresses=parse_ipv6_list(ipv6s),
                         mtu=parse_mtu(nic.get("mtu"), ipv6))


class Gcp(BulkProvider):
    key = "gcp"
    default_host = "http://169.254.169.254"
    headers = {"Metadata-Flavor": "Google"}
    bulk_path = RECURSIVE
    walk_probe = f"{BASE}/network-interfaces/"

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        if self.walking:
            nics = self._walked(macs)
        else:
            nics = list(enumerate(parse_interfaces(self.bulk())))
        LOG.info("found GCP interfaces: %d", len(nics))
        interfaces = []
        local, others = _local(nics, macs)
        for position, (number, nic) in local:
            mac = normalize_mac(nic["mac"]) or ""
            if isinstance(nic.get("error"), CloudSetupError):
                interfaces.append(InterfaceData(mac, position, error=str(nic["error"])))
                continue
            interfaces.append(checked(mac, position, interface_from, number, mac, nic,
                                      self.options, position))
        return InstanceData(self.name, tuple(interfaces), unmatched=others)

    def _walked(self, macs: Mapping[str, str]) -> List[Tuple[int, Dict[str, Any]]]:
        """Upstream's walk: the NIC numbers, each NIC's MAC, and for the local ones the
        forwarded IPs.  Target-instance IPs and alias ranges are not walked (upstream
        never asks for them; every GCE server has the one-request document)."""
        text = self.walk_first()
        numbers = walk_numbers(text if text is not None else self.get(self.walk_probe))
        if not numbers:
            raise MetadataError("no GCP interfaces found")
        mac_texts = self.fetch_all({n: self._getter(f"{n}/mac") for n in numbers})
        nics = []
        for number in numbers:
            if isinstance(mac_texts[number], CloudSetupError):
                raise mac_texts[number]
            nic: Dict[str, Any] = {"mac": str(mac_texts[number]).strip()}
            if normalize_mac(nic["mac"]) in macs and self.options.get("forwarded_ips", True):
                try:
                    nic["forwardedIps"] = self._walk_list(number, "forwarded-ips")
                except CloudSetupError as err:
                    nic["error"] = err
            nics.append((number, nic))
        return nics

    def _walk_list(self, number: int, walk_key: str) -> List[str]:
        listing = walk_numbers(self.get(f"{BASE}/network-interfaces/{number}/{walk_key}/"))
        values = self.fetch_all({k: self._getter(f"{number}/{walk_key}/{k}") for k in listing})
        for value in values.values():
            if isinstance(value, CloudSetupError):
                raise value
        return [str(values[k]).strip() for k in listing]

    def _getter(self, rest: str):
        return lambda: self.get(f"{BASE}/network-interfaces/{rest}")


def _local(nics: List[Tuple[int, Dict[str, Any]]], macs: Mapping[str, str]
           ) -> Tuple[List[Tuple[int, Tuple[int, Dict[str, Any]]]], Tuple[str, ...]]:
    """(position, (number, NIC)) of the listed NICs that are local, and the MACs that
    are not; upstream's lines for each (a NIC is named by its number in the list)."""
    local = []
    others = []
    numbers = [number for number, _ in nics]
    for position, mac in listed_nics("GCP", [nic["mac"] for _, nic in nics], numbers):
        number, nic = nics[position]
        if mac in macs:
            LOG.info("GCP interface[%d]: found a requested device with hwaddr %s", number, mac)
            local.append((position, nics[position]))
        else:
            LOG.info("GCP interface[%d]: found a device with hwaddr %s", number, mac)
            others.append(mac)
    return local, tuple(others)
