"""Google Compute Engine metadata: recursive JSON in one request, and the text walk."""

from __future__ import annotations

from typing import Any, Dict, List

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import (NOT_FOUND, Answer, UpstreamPaths, as_json, gateway,
                                            netmask, query, segments, text, walk)

PREFIX = "/computeMetadata/v1/instance"
_NICS = PREFIX + "/network-interfaces/"
UPSTREAM = UpstreamPaths(("GET", PREFIX + "/id"), ("GET", _NICS), ("GET", _NICS + r"\d+/mac"),
                         ("GET", _NICS + r"\d+/forwarded-ips/(\d+)?"))


def interfaces(scenario: Dict[str, Any]) -> List[Dict[str, Any]]:
    """``network-interfaces/?recursive=true&alt=json`` of a scenario."""
    return [{
        "mac": iface["mac"].lower(),
        "ip": iface["addresses"][0],
        "subnetmask": netmask(iface),
        "gateway": gateway(iface),
        "mtu": iface.get("mtu", 1460),
        "network": "projects/1/networks/default",
        "dnsServers": ["169.254.169.254"],
        "forwardedIps": list(iface.get("forwarded_ips", [])),
        "forwardedIpv6s": list(iface.get("forwarded_ipv6s", [])),
        "ipv6s": list(iface.get("ipv6s", [])[:1]),  # GCP gives a NIC one, by DHCPv6
        "targetInstanceIps": list(iface.get("target_instance_ips", [])),
        "ipAliases": list(iface.get("alias_ranges", [])),
        "accessConfigs": [{"externalIp": ip, "type": "ONE_TO_ONE_NAT"}
                          for ip in scenarios.as_list(iface.get("public_ipv4"))],
        "ipv6AccessConfigs": [{"externalIpv6": ip, "externalIpv6PrefixLength": 96,
                               "type": "DIRECT_IPV6"}
                              for ip in scenarios.as_list(iface.get("public_ipv6"))],
    } for iface in scenarios.interfaces(scenario)]


def _text_tree(scenario: Dict[str, Any]) -> Dict[str, Any]:
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


class GcpApi:
    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state

    def handle(self, method: str, path: str, headers) -> Answer:
        if headers.get("Metadata-Flavor") != "Google":
            return text("Missing required header: Metadata-Flavor\n", 403)
        if method != "GET" or not path.startswith(PREFIX):
            return NOT_FOUND
        status, head, body = self._answer(path)
        head["Metadata-Flavor"] = "Google"
        return status, head, body

    def _answer(self, path: str) -> Answer:
        parts = segments(path, PREFIX)
        params = query(path)
        if params.get("recursive") == "true":
            if not self.state.scenario.get("gcp", {}).get("bulk", True):
                return text("Bad Request\n", 400)
            if parts == ["network-interfaces"]:
                return as_json(interfaces(self.state.scenario))
            return NOT_FOUND
        value = walk(_text_tree(self.state.scenario), parts)
        return NOT_FOUND if value is None else text(value)
