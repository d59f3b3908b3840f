"""OpenStack's ``network_data.json``, from the metadata service or a config drive."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any, Dict

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import (NOT_FOUND, Answer, UpstreamPaths, as_json, gateway,
                                            netmask, text)

PATH = "/openstack/latest/network_data.json"


def network_data(scenario: Dict[str, Any]) -> Dict[str, Any]:
    links, networks = [], []
    for number, iface in enumerate(scenarios.interfaces(scenario)):
        link = f"tap{iface['mac'].replace(':', '')[-6:]}"
        links.append({"id": link, "type": "ovs", "ethernet_mac_address": iface["mac"].lower(),
                      "mtu": iface.get("mtu", 1500), "vif_id": f"vif-{number}"})
        routes = [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": gateway(iface)}]
        for route in iface.get("routes", []):
            net = ipaddress.ip_network(route["network"])
            routes.append({"network": str(net.network_address), "netmask": str(net.netmask),
                           "gateway": route["gateway"]})
        for k, address in enumerate(iface["addresses"]):
            networks.append({"id": f"network{number}-{k}", "link": link, "type": "ipv4",
                             "ip_address": address, "netmask": netmask(iface),
                             "routes": routes if k == 0 else [],
                             "network_id": f"net-{number}"})
    return {"links": links, "networks": networks,
            "services": [{"type": "dns", "address": "8.8.8.8"}]}


def write_config_drive(scenario: Dict[str, Any], root: Path) -> Path:
    """Lay out a config-drive directory (as mounted) holding the scenario."""
    target = root / "openstack" / "latest"
    target.mkdir(parents=True, exist_ok=True)
    (target / "network_data.json").write_text(json.dumps(network_data(scenario)))
    return root


class OpenStackApi:
    upstream = UpstreamPaths()  # upstream has no OpenStack provider

    def __init__(self, state: object) -> None:
        self.state = state

    def handle(self, method: str, path: str, headers) -> Answer:
        if method != "GET":
            return NOT_FOUND
        if path in ("/openstack", "/openstack/"):
            return text("2018-08-27\nlatest\n")
        if path == PATH:
            return as_json(network_data(self.state.scenario))
        return NOT_FOUND
