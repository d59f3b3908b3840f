"""Oracle Cloud Infrastructure's instance metadata v2 documents (``/opc/v2``)."""

from __future__ import annotations

from typing import Any, Dict, List

from nm_cloud_setup.shapes.instance import gateway, gateway6, subnet6


def vnics(scenario: Dict[str, Any]) -> List[Dict[str, Any]]:
    baremetal = scenario.get("oci", {}).get("baremetal", False)
    result = []
    for iface in scenario["interfaces"]:
        vnic = {
            "vnicId": f"ocid1.vnic.oc1..{iface['mac'].replace(':', '').lower()}",
            "privateIp": iface["addresses"][0],
            "vlanTag": iface.get("vlan_tag", 0),
            "macAddr": iface["mac"].upper(),
            "virtualRouterIp": gateway(iface),
            "subnetCidrBlock": iface["subnet"],
        }
        if iface.get("ipv6s"):
            vnic.update(ipv6Addresses=list(iface["ipv6s"]),
                        ipv6SubnetCidrBlock=subnet6(iface),
                        ipv6VirtualRouterIp=gateway6(iface))
        if baremetal:
            vnic["nicIndex"] = iface.get("nic_index", 0)
        result.append(vnic)
    return result


def instance(scenario: Dict[str, Any]) -> Dict[str, Any]:
    region = scenario.get("region", "us-phoenix-1")
    return {"id": scenario.get("instance_id", "ocid1.instance.oc1.phx.exampleuniqueid"),
            "displayName": scenario.get("hostname", "my-instance"),
            "hostname": scenario.get("hostname", "my-instance"),
            "shape": scenario.get("instance_type", "VM.Standard.E4.Flex"),
            "canonicalRegionName": region, "region": region.split("-")[1][:3],
            "availabilityDomain": scenario.get("availability_zone", "Uocm:PHX-AD-1"),
            "faultDomain": "FAULT-DOMAIN-1", "state": "Running"}
