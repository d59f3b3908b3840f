"""Azure's Instance Metadata Service documents: ``/metadata/instance`` (compute, network)."""

from __future__ import annotations

import ipaddress
from typing import Any, Dict

from nm_cloud_setup.shapes.common import as_list


def network(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """The ``/metadata/instance/network`` document of a scenario."""
    interfaces = []
    for iface in scenario["interfaces"]:
        net = ipaddress.ip_network(iface["subnet"])
        public = as_list(iface.get("public_ipv4"))
        interfaces.append({
            "macAddress": iface["mac"].replace(":", "").upper(),
            "ipv4": {
                "ipAddress": [{"privateIpAddress": a,
                               "publicIpAddress": public[k] if k < len(public) else ""}
                              for k, a in enumerate(iface["addresses"])],
                "subnet": [{"address": str(net.network_address), "prefix": str(net.prefixlen)}],
            },
            "ipv6": {"ipAddress": [{"privateIpAddress": a, "publicIpAddress": ""}
                                   for a in iface.get("ipv6s", [])]},
        })
    return {"interface": interfaces}


def compute(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """The identity part of ``/metadata/instance`` (``compute``)."""
    name = scenario.get("hostname", "examplevmname")
    return {"vmId": scenario.get("instance_id", "02aab8a4-74ef-476e-8182-f6d2ba4166a6"),
            "vmSize": scenario.get("instance_type", "Standard_D2s_v3"),
            "location": scenario.get("region", "westeurope"),
            "zone": scenario.get("availability_zone", "1"),
            "name": name, "osProfile": {"computerName": name, "adminUsername": "azureuser"}}
