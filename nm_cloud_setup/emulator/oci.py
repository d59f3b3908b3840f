"""Oracle Cloud Infrastructure instance metadata v2 (``/opc/v2``)."""

from __future__ import annotations

from typing import Any, Dict, List

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import NOT_FOUND, Answer, UpstreamPaths, as_json, gateway, text

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
        if baremetal:
            vnic["nicIndex"] = iface.get("nic_index", 0)
        result.append(vnic)
    return result


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
            return as_json({"id": "ocid1.instance.oc1..1", "shape": "VM.Standard.E4.Flex"})
        if path in ("/opc/v2/vnics", "/opc/v2/vnics/"):
            return as_json(vnics(self.state.scenario))
        return NOT_FOUND
