"""Google Compute Engine's metadata documents: ``network-interfaces/`` as JSON, and the
instance tree its text walk serves."""

from __future__ import annotations

from typing import Any, Dict, List

from nm_cloud_setup.shapes.common import as_list
from nm_cloud_setup.shapes.instance import gateway, netmask


def interfaces(scenario: Dict[str, Any]) -> List[Dict[str, Any]]:
    """``network-interfaces/?recursive=true&alt=json`` of a scenario."""
    return [{
        "mac": iface["mac"].lower(),
        "ip": iface["addresses"][0],
        "subnetmask": netmask(iface),
        "gateway": gateway(iface),
        **_mtu(iface),
        "network": "projects/1/networks/default",
        "dnsServers": ["169.254.169.254"],
        "forwardedIps": list(iface.get("forwarded_ips", [])),
        "forwardedIpv6s": list(iface.get("forwarded_ipv6s", [])),
        "ipv6s": list(iface.get("ipv6s", [])[:1]),  # GCP gives a NIC one, by DHCPv6
        "targetInstanceIps": list(iface.get("target_instance_ips", [])),
        "ipAliases": list(iface.get("alias_ranges", [])),
        "accessConfigs": [{"externalIp": ip, "type": "ONE_TO_ONE_NAT"}
                          for ip in as_list(iface.get("public_ipv4"))],
        "ipv6AccessConfigs": [{"externalIpv6": ip, "externalIpv6PrefixLength": 96,
                               "type": "DIRECT_IPV6"}
                              for ip in as_list(iface.get("public_ipv6"))],
    } for iface in scenario["interfaces"]]


def _mtu(iface: Dict[str, Any]) -> Dict[str, Any]:
    """GCP's default VPC MTU, the scenario's, or (``mtu: None``) no key at all."""
    mtu = iface.get("mtu", 1460)
    return {} if mtu is None else {"mtu": mtu}


def text_tree(scenario: Dict[str, Any]) -> Dict[str, Any]:
    kebab = {"forwardedIps": "forwarded-ips", "targetInstanceIps": "target-instance-ips",
             "ipAliases": "ip-aliases", "dnsServers": "dns-servers"}
    nics = [{kebab.get(k, k): v for k, v in nic.items()
             if k not in ("accessConfigs", "ipv6AccessConfigs", "forwardedIpv6s")}
            for nic in interfaces(scenario)]
    zone = scenario.get("availability_zone", "us-central1-a")
    machine_type = scenario.get("instance_type", "e2-medium")
    return {"id": str(scenario.get("instance_id", "4520031799277581759")),
            "hostname": scenario.get("hostname", "vm-1.us-central1-a.c.project.internal"),
            "machine-type": f"projects/123/machineTypes/{machine_type}",
            "zone": f"projects/123/zones/{zone}", "network-interfaces": nics}
