"""Oracle Cloud Infrastructure metadata v2 (``/opc/v2``, ``Authorization: Bearer Oracle``).

One request: upstream's ``vnics``, fetched while detecting and reused (upstream
detects with ``instance`` first; it is asked only if ``vnics`` is refused).
Gateway = ``virtualRouterIp``.  Only each VNIC's primary IP is in the metadata.
On bare metal (the first VNIC has ``nicIndex``), a VNIC with a VLAN tag is
reached through a MACVLAN on the physical NIC of the same ``nicIndex`` and a VLAN
on top: its data names the tag and the parent's MAC.  The checks and warnings
are upstream's.  IPv6 (optional): ``ipv6Addresses`` (all of them),
``ipv6SubnetCidrBlock``, and the gateway ``ipv6VirtualRouterIp``; a bad IPv6 value
fails that VNIC.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Dict, List, Mapping, Optional, Tuple

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData, normalize_mac
from nm_cloud_setup.providers.base import (BulkProvider, parse_ipv4, parse_json, parse_subnet,
                                           warn_outside_subnet)
from nm_cloud_setup.providers.ipv6 import ipv6_part

LOG = logging.getLogger(__name__)

VNICS = "/opc/v2/vnics"
INSTANCE = "/opc/v2/instance"
NIC_INDEX_LIMIT = 1024  # upstream's bound against abuse
MAX_VLAN = 4094


def parse_vnics(text: str, macs: Mapping[str, str]) -> List[InterfaceData]:
    """The ``vnics`` list -> the local VNICs and the VLAN ones (a VNIC that cannot be
    configured is an InterfaceData with an error)."""
    return [iface for iface in all_vnics(text) if iface.mac in macs or iface.vlan_tag]


def all_vnics(text: str) -> List[InterfaceData]:
    """Every VNIC of the ``vnics`` list, upstream's warnings for the unusable ones."""
    doc = parse_json(text, "the OCI vnics document")
    if not isinstance(doc, list):
        raise MetadataError("get-config: JSON parse failure, can't configure VNICs")
    baremetal = bool(doc) and isinstance(doc[0], dict) and "nicIndex" in doc[0]
    if doc:
        LOG.info("get-config: detected %s instance", "baremetal" if baremetal else "VM")
    else:
        LOG.info("get-config: empty VNICs metadata, cannot detect instance type")
    result: List[InterfaceData] = []
    physical: Dict[int, str] = {}
    parents: Dict[str, int] = {}
    for idx, vnic in enumerate(doc):
        entry = _vnic(idx, vnic, baremetal)
        if entry is None:
            continue
        iface, nic_index = entry
        if baremetal and not iface.vlan_tag:
            physical[nic_index] = iface.mac
        elif baremetal:
            parents[iface.mac] = nic_index
        result.append(iface)
    kept = []
    for iface in result:
        if iface.mac in parents:
            nic_index = parents[iface.mac]
            if nic_index not in physical:
                LOG.warning("get-config: physical NIC for nicIndex=%d not found, ignoring VNIC "
                            "(VNIC macAddr=%s)", nic_index, iface.mac)
                continue
            iface = dataclasses.replace(iface, parent_mac=physical[nic_index])
        kept.append(iface)
    return kept


def _warn(what: str, vnic_id: str, idx: int) -> None:
    LOG.warning("get-config: %s(VNIC %s idx=%d)", what, vnic_id, idx)


def _vnic(idx: int, vnic: Any, baremetal: bool) -> Optional[Tuple[InterfaceData, int]]:
    """One VNIC and its nicIndex, or None (logged) when it is to be ignored."""
    if not isinstance(vnic, dict):
        _warn("JSON parse failure, ignoring VNIC", "", idx)
        return None
    vnic_id = vnic.get("vnicId") if isinstance(vnic.get("vnicId"), str) else ""
    mac = normalize_mac(vnic["macAddr"]) if isinstance(vnic.get("macAddr"), str) else None
    if mac is None:
        _warn("missing or invalid 'macAddr', ignoring VNIC", vnic_id, idx)
        return None
    nic_index = vlan = 0
    if baremetal:
        nic_index, vlan = vnic.get("nicIndex"), vnic.get("vlanTag")
        if not _integer(nic_index) or not 0 <= nic_index < NIC_INDEX_LIMIT:
            _warn("missing or invalid 'nicIndex', ignoring VNIC", vnic_id, idx)
            return None
        if not _integer(vlan) or not 0 <= vlan <= MAX_VLAN:
            _warn("missing or invalid 'vlanTag', ignoring VNIC", vnic_id, idx)
            return None
    values = {key: _value(vnic, key, vnic_id, idx)
              for key in ("privateIp", "virtualRouterIp", "subnetCidrBlock")}
    iface = InterfaceData(mac, idx, vlan_tag=vlan or None)
    try:
        iface = _with_ipv6(_addressed(iface, values), vnic)
    except MetadataError as err:
        iface = InterfaceData(mac, idx, vlan_tag=vlan or None, error=str(err))
    return dataclasses.replace(iface, interface_id=vnic_id or None), nic_index


def _value(vnic: Dict[str, Any], key: str, vnic_id: str, idx: int) -> Optional[str]:
    """A VNIC's address field, checked; None (upstream's warning) when unusable."""
    value = vnic.get(key)
    try:
        if not isinstance(value, str):
            raise MetadataError(key)
        return parse_subnet(value) if key == "subnetCidrBlock" else parse_ipv4(value)
    except MetadataError:
        _warn(f"missing or invalid '{key}'", vnic_id, idx)
        return None


def _addressed(iface: InterfaceData, values: Mapping[str, Optional[str]]) -> InterfaceData:
    address, subnet = values["privateIp"], values["subnetCidrBlock"]
    if address is None or subnet is None:
        missing = "privateIp" if address is None else "subnetCidrBlock"
        raise MetadataError(f"missing or invalid '{missing}': this VNIC cannot be configured")
    warn_outside_subnet(iface.mac, (address,), subnet)
    return InterfaceData(iface.mac, iface.index, (address,), subnet,
                         gateway=values["virtualRouterIp"], vlan_tag=iface.vlan_tag)


def _with_ipv6(iface: InterfaceData, vnic: Dict[str, Any]) -> InterfaceData:
    addresses, subnet, gateway = ipv6_part(vnic.get("ipv6Addresses"),
                                           vnic.get("ipv6SubnetCidrBlock"),
                                           vnic.get("ipv6VirtualRouterIp"), "'ipv6SubnetCidrBlock'")
    return dataclasses.replace(iface, ipv6_addresses=addresses, ipv6_subnet=subnet,
                               ipv6_gateway=gateway)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Oci(BulkProvider):
    key = "oci"
    default_host = "http://169.254.169.254"
    headers = {"Authorization": "Bearer Oracle"}
    bulk_path = VNICS
    walk_probe = INSTANCE  # upstream's detection, if vnics is refused
    refused = (404,)

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        vnics = all_vnics(self.bulk())
        local = [iface for iface in vnics if iface.mac in macs or iface.vlan_tag]
        others = tuple(iface.mac for iface in vnics if iface not in local)
        return InstanceData(self.name, tuple(local), unmatched=others)
