"""Google Compute Engine metadata.

One request: ``network-interfaces/?recursive=true&alt=json`` (header
``Metadata-Flavor: Google``), fetched while detecting and reused.  Only if it is
refused does it walk upstream's text form.  The load balancer and the VPC deliver
forwarded IPs, target-instance IPs and alias IP ranges to the VM: each becomes a
route ``type local`` (metric 100), as upstream does for forwarded IPs.  Each kind
can be switched off (options ``forwarded_ips``, ``target_instance_ips``,
``alias_ips``).  A NIC without any of them is normal, not an error.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Tuple

from nm_cloud_setup.config import normalize_mac
from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.providers.base import (BulkProvider, checked, listed_nics, parse_cidr,
                                           parse_index, parse_json)

LOG = logging.getLogger(__name__)

BASE = "/computeMetadata/v1/instance"
RECURSIVE = f"{BASE}/network-interfaces/?recursive=true&alt=json"
# (JSON key, text-walk key, option)
KINDS = (("forwardedIps", "forwarded-ips", "forwarded_ips"),
         ("targetInstanceIps", "target-instance-ips", "target_instance_ips"),
         ("ipAliases", "ip-aliases", "alias_ips"))


def parse_interfaces(text: str) -> List[Dict[str, Any]]:
    """The recursive JSON -> per NIC ``{"mac": str, KIND: [str, ...]}``."""
    doc = parse_json(text, "the GCP network-interfaces document")
    if not isinstance(doc, list):
        raise MetadataError("the GCP network-interfaces document is not a list")
    nics = []
    for idx, nic in enumerate(doc):
        if not isinstance(nic, dict) or not isinstance(nic.get("mac"), str):
            raise MetadataError(f"GCP interface[{idx}] has no 'mac'")
        entry = {"mac": nic["mac"]}
        for json_key, _, _ in KINDS:
            values = nic.get(json_key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise MetadataError(f"GCP interface[{idx}]: {json_key!r} is not a list of strings")
            entry[json_key] = values
        nics.append(entry)
    return nics


def interface_from(idx: int, mac: str, nic: Mapping[str, Any],
                   options: Mapping[str, Any]) -> InterfaceData:
    """Local routes of one NIC from its lists, per the enabled kinds."""
    routes: List[str] = []
    for json_key, _, option in KINDS:
        if not options.get(option, True):
            continue
        values = nic.get(json_key, [])
        if json_key == "forwardedIps":
            LOG.info("GCP interface[%d]: found %d forwarded ips", idx, len(values))
        for value in values:
            cidr = parse_cidr(value, "forwarded IP" if json_key != "ipAliases" else "alias range")
            if json_key == "forwardedIps":
                LOG.info("GCP interface[%d]: adding forwarded-ip %s", idx, cidr.split("/")[0])
            routes.append(cidr)
    return InterfaceData(mac, idx, local_routes=tuple(dict.fromkeys(routes)))


class Gcp(BulkProvider):
    key = "gcp"
    name = "GCP"
    default_host = "http://169.254.169.254"
    headers = {"Metadata-Flavor": "Google"}
    bulk_path = RECURSIVE
    walk_probe = f"{BASE}/id"

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        if self.walking:
            nics = self._walked(macs)
        else:
            nics = list(enumerate(parse_interfaces(self.bulk())))
        LOG.debug("found GCP interfaces: %d", len(nics))
        interfaces = []
        for idx, nic in _local(nics, macs):
            mac = normalize_mac(nic["mac"]) or ""
            if isinstance(nic.get("error"), CloudSetupError):
                interfaces.append(InterfaceData(mac, idx, error=str(nic["error"])))
                continue
            interfaces.append(checked(mac, idx, interface_from, idx, mac, nic, self.options))
        return InstanceData(self.name, tuple(interfaces))

    def _walked(self, macs: Mapping[str, str]) -> List[Tuple[int, Dict[str, Any]]]:
        indexes = [parse_index(line.rstrip("/"), "interface index")
                   for line in self.get(f"{BASE}/network-interfaces/").split()]
        mac_texts = self.fetch_all({i: self._getter(f"{i}/mac") for i in indexes})
        nics = []
        for idx in indexes:
            if isinstance(mac_texts[idx], CloudSetupError):
                raise mac_texts[idx]
            nic: Dict[str, Any] = {"mac": str(mac_texts[idx]).strip()}
            if normalize_mac(nic["mac"]) in macs:
                try:
                    nic.update(self._walk_lists(idx))
                except CloudSetupError as err:
                    nic["error"] = err
            nics.append((idx, nic))
        return nics

    def _walk_lists(self, idx: int) -> Dict[str, List[str]]:
        result = {}
        for json_key, walk_key, option in KINDS:
            if not self.options.get(option, True):
                continue
            listing = self.get(f"{BASE}/network-interfaces/{idx}/{walk_key}/").split()
            values = self.fetch_all({k: self._getter(f"{idx}/{walk_key}/{k}") for k in listing})
            for value in values.values():
                if isinstance(value, CloudSetupError):
                    raise value
            result[json_key] = [str(values[k]).strip() for k in listing]
        return result

    def _getter(self, rest: str):
        return lambda: self.get(f"{BASE}/network-interfaces/{rest}")


def _local(nics: List[Tuple[int, Dict[str, Any]]],
           macs: Mapping[str, str]) -> List[Tuple[int, Dict[str, Any]]]:
    """(index, NIC) of the listed NICs that are local; upstream's lines for each."""
    result = []
    for position, mac in listed_nics("GCP", [nic["mac"] for _, nic in nics]):
        idx, nic = nics[position]
        if mac in macs:
            LOG.info("GCP interface[%d]: found a requested device with hwaddr %s", idx, mac)
            result.append((idx, nic))
        else:
            LOG.info("GCP interface[%d]: found a device with hwaddr %s", idx, mac)
    return result
