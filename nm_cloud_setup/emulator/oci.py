"""Oracle Cloud Infrastructure instance metadata v2 (``/opc/v2``)."""

from __future__ import annotations

from typing import Any, Dict, List

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import (NOT_FOUND, Answer, UpstreamPaths, as_json, gateway,
                                            gateway6, subnet6, text)

UPSTREAM = UpstreamPaths(("GET", r"/opc/v2/instance"), ("GET", r"/opc/v2/vnics"))


def vnics(scenario: Dict[str, Any]) -> List[Dict[str, Any]]:
    baremetal = scenario.get("oci", {}).get("baremetal", False)
    result = []
    for iface in scenarios.interfaces(scenario):
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


class OciApi:
    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state

    def handle(self, method: str, path: str, headers) -> Answer:
        if headers.get("Authorization") != "Bearer Oracle":
            return text("Unauthorized\n", 401)
        if method != "GET":
            return NOT_FOUND
        if path in ("/opc/v2/instance", "/opc/v2/instance/"):
            return as_json(instance(self.state.scenario))
        if path in ("/opc/v2/vnics", "/opc/v2/vnics/"):
            return as_json(vnics(self.state.scenario))
        return NOT_FOUND
