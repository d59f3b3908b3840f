"""Hetzner Cloud's server metadata: YAML and text under ``/hetzner/v1/metadata``.

Each scenario NIC is a private network: ``ip`` its first address, ``alias_ips``
the others, ``interface_num`` (default: its position + 1; the public NIC is 0),
``network`` (default: the subnet), ``subnet``, ``gateway``.  Top level
``instance_id``, ``hostname``, ``public_ipv4``, ``availability_zone``, ``region``.
The YAML is written by hand, as the service writes it (flow lists, bare MACs).
"""

from __future__ import annotations

from typing import Any, Dict

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import NOT_FOUND, Answer, gateway, text

BASE = "/hetzner/v1/metadata"


def instance(scenario: Dict[str, Any]) -> Dict[str, str]:
    return {"availability-zone": scenario.get("availability_zone", "hel1-dc2"),
            "hostname": scenario.get("hostname", "my-server"),
            "instance-id": str(scenario.get("instance_id", 42)),
            "public-ipv4": scenario.get("public_ipv4", "1.2.3.4"),
            "region": scenario.get("region", "eu-central")}


def private_networks(scenario: Dict[str, Any]) -> str:
    lines = []
    for number, iface in enumerate(scenarios.interfaces(scenario)):
        lines += [f"- ip: {iface['addresses'][0]}",
                  f"  alias_ips: [{', '.join(iface['addresses'][1:])}]",
                  f"  interface_num: {iface.get('interface_num', number + 1)}",
                  f"  mac_address: {iface['mac'].lower()}",
                  f"  network_id: {1234 + number}",
                  f"  network_name: nw-test{number + 1}",
                  f"  network: {iface.get('network', iface['subnet'])}",
                  f"  subnet: {iface['subnet']}",
                  f"  gateway: {gateway(iface)}"]
    return "\n".join(lines) + "\n" if lines else "[]\n"


class HetznerApi:
    def __init__(self, state: object) -> None:
        self.state = state

    def handle(self, method: str, path: str, headers) -> Answer:
        path = path.split("?", 1)[0].rstrip("/")
        if method != "GET" or not path.startswith(BASE):
            return NOT_FOUND
        values = instance(self.state.scenario)
        if path == BASE:
            return _yaml("".join(f"{key}: {value}\n" for key, value in values.items()))
        key = path[len(BASE) + 1:]
        if key == "private-networks":
            return _yaml(private_networks(self.state.scenario))
        return NOT_FOUND if key not in values else text(values[key])


def _yaml(body: str) -> Answer:
    return 200, {"Content-Type": "application/x-yaml"}, body.encode()
