"""Oracle Cloud Infrastructure metadata v2 (``/opc/v2``, ``Authorization: Bearer Oracle``).

One request: ``vnics/``, fetched while detecting (upstream probes ``instance``
first) and reused.  Gateway = ``virtualRouterIp``.  Only each VNIC's primary IP
is in the metadata.  On bare metal (the first VNIC has ``nicIndex``), a VNIC
with a VLAN tag is reached through a MACVLAN on the physical NIC of the same
``nicIndex`` and a VLAN on top: its data names the tag and the parent's MAC.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional

from nm_cloud_setup.config import normalize_mac
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData, InterfaceData
from nm_cloud_setup.providers.base import (BulkProvider, check_in_subnet, checked, field,
                                           parse_ipv4, parse_json, parse_subnet)

LOG = logging.getLogger(__name__)

VNICS = "/opc/v2/vnics/"
MAX_NIC_INDEX = 1
MAX_VLAN = 4094


def parse_vnics(text: str, macs: Mapping[str, str]) -> List[InterfaceData]:
    """The ``vnics/`` list -> per VNIC data (a bad VNIC is an InterfaceData with an error)."""
    doc = parse_json(text, "the OCI vnics document")
    if not isinstance(doc, list):
        raise MetadataError("the OCI vnics document is not a list")
    baremetal = bool(doc) and isinstance(doc[0], dict) and "nicIndex" in doc[0]
    LOG.info("get-config: detected %s instance", "baremetal" if baremetal else "VM")
    result: List[InterfaceData] = []
    physical: Dict[int, str] = {}
    for idx, vnic in enumerate(doc):
        mac = normalize_mac(vnic.get("macAddr", "")) if isinstance(vnic, dict) and isinstance(
            vnic.get("macAddr"), str) else None
        if mac is None:
            LOG.warning("get-config: missing or invalid 'macAddr', ignoring VNIC (idx=%d)", idx)
            continue
        iface = checked(mac, idx, _vnic, idx, mac, vnic, baremetal)
        if baremetal and iface.error is None and not iface.vlan_tag:
            physical.setdefault(vnic["nicIndex"], mac)
        result.append(iface)
    if baremetal:
        result = _with_parents(result, doc, physical)
    return [iface for iface in result if iface.mac in macs or iface.vlan_tag]


def _vnic(idx: int, mac: str, vnic: Any, baremetal: bool) -> InterfaceData:
    address = parse_ipv4(field(vnic, "privateIp", str, "VNIC"))
    gateway = parse_ipv4(field(vnic, "virtualRouterIp", str, "VNIC"), "gateway")
    subnet = parse_subnet(field(vnic, "subnetCidrBlock", str, "VNIC"))
    check_in_subnet([address], subnet)
    vlan_tag: Optional[int] = None
    if baremetal:
        nic_index = field(vnic, "nicIndex", int, "VNIC")
        vlan = field(vnic, "vlanTag", int, "VNIC")
        if not 0 <= nic_index <= MAX_NIC_INDEX or not 0 <= vlan <= MAX_VLAN:
            raise MetadataError(f"invalid nicIndex {nic_index} or vlanTag {vlan}")
        vlan_tag = vlan or None
    return InterfaceData(mac, idx, (address,), subnet, gateway=gateway, vlan_tag=vlan_tag)


def _with_parents(interfaces: List[InterfaceData], doc: List[Any],
                  physical: Dict[int, str]) -> List[InterfaceData]:
    result = []
    for iface in interfaces:
        if iface.vlan_tag:
            nic_index = doc[iface.index]["nicIndex"]
            parent = physical.get(nic_index)
            if parent is None:
                LOG.warning("get-config: physical NIC for nicIndex=%d not found, ignoring VNIC "
                            "(VNIC macAddr=%s)", nic_index, iface.mac)
                continue
            iface = InterfaceData(iface.mac, iface.index, iface.addresses, iface.subnet,
                                  iface.gateway, vlan_tag=iface.vlan_tag, parent_mac=parent)
        result.append(iface)
    return result


class Oci(BulkProvider):
    key = "oci"
    name = "oci"
    default_host = "http://169.254.169.254"
    headers = {"Authorization": "Bearer Oracle"}
    bulk_path = VNICS

    def get_config(self, macs: Mapping[str, str]) -> InstanceData:
        return InstanceData(self.name, tuple(parse_vnics(self.bulk(), macs)))
