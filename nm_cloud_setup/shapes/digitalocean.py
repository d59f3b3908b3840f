"""DigitalOcean's droplet metadata: ``/metadata/v1.json``, the whole droplet in one document.

VM keys: per NIC ``type`` (``public`` or ``private``; default: the first NIC
public, the others private), ``anchor_ipv4`` (``{"address", "subnet", "gateway"}``,
public NICs), ``ipv6s``/``ipv6_subnet``/``ipv6_gateway`` (the first IPv6 address is
served, public NICs); top level ``instance_id`` (the droplet ID), ``hostname``,
``region``, ``public_ipv4`` (an active reserved IP).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict

from nm_cloud_setup.shapes.instance import gateway, netmask

DOCUMENT = "/metadata/v1.json"


def _ipv6(iface: Dict[str, Any]) -> Dict[str, Any]:
    """DigitalOcean's form: upper-case, every group written out."""
    address = ipaddress.IPv6Address(iface["ipv6s"][0])
    subnet = ipaddress.IPv6Network(iface.get("ipv6_subnet") or f"{address}/64", strict=False)
    router = iface.get("ipv6_gateway") or str(subnet.network_address + 1)
    return {"ip_address": address.exploded.upper(), "cidr": subnet.prefixlen,
            "gateway": ipaddress.IPv6Address(router).exploded.upper()}


def _anchor(anchor: Dict[str, Any]) -> Dict[str, Any]:
    net = ipaddress.IPv4Network(anchor["subnet"])
    return {"ip_address": anchor["address"], "netmask": str(net.netmask),
            "gateway": anchor.get("gateway") or str(net.network_address + 1)}


def document(scenario: Dict[str, Any]) -> Dict[str, Any]:
    nics: Dict[str, list] = {"public": [], "private": []}
    for number, iface in enumerate(scenario["interfaces"]):
        kind = iface.get("type") or ("public" if number == 0 else "private")
        entry: Dict[str, Any] = {
            "ipv4": {"ip_address": iface["addresses"][0], "netmask": netmask(iface),
                     "gateway": gateway(iface)},
            "mac": iface["mac"].lower(), "type": kind}
        if kind == "public" and iface.get("anchor_ipv4"):
            entry["anchor_ipv4"] = _anchor(iface["anchor_ipv4"])
        if kind == "public" and iface.get("ipv6s"):
            entry["ipv6"] = _ipv6(iface)
        nics.setdefault(kind, []).append(entry)
    droplet = scenario.get("instance_id", 2756294)
    reserved = scenario.get("public_ipv4")
    reserved_ip = {"ipv4": {"active": True, "ip_address": reserved} if reserved
                   else {"active": False}}
    return {
        "droplet_id": int(droplet) if str(droplet).isdigit() else droplet,
        "hostname": scenario.get("hostname", "sample-droplet"),
        "user_data": scenario.get("user_data", ""),
        "vendor_data": "#cloud-config\n",
        "public_keys": list(scenario.get("ssh_keys", [])),
        "auth_key": "0000000000000000",
        "region": scenario.get("region", "nyc3"),
        "interfaces": nics,
        "floating_ip": reserved_ip,
        "reserved_ip": reserved_ip,
        "dns": {"nameservers": ["67.207.67.2", "67.207.67.3"]},
        "tags": None,
        "features": {"dhcp_enabled": True},
    }
