"""Hetzner Cloud's server metadata: the instance's keys and ``private-networks`` (YAML).

Each VM NIC is a private network: ``ip`` its first address, ``alias_ips``
the others, ``interface_num`` (default: its position + 1; the public NIC is 0),
``network`` (default: the subnet), ``subnet``, ``gateway``.  Top level
``instance_id``, ``hostname``, ``public_ipv4``, ``availability_zone``, ``region``.
The YAML is written by hand, as the service writes it (flow lists, bare MACs).
"""

from __future__ import annotations

from typing import Any, Dict

from nm_cloud_setup.shapes.instance import gateway

BASE = "/hetzner/v1/metadata"


def instance(scenario: Dict[str, Any]) -> Dict[str, str]:
    return {"availability-zone": scenario.get("availability_zone", "hel1-dc2"),
            "hostname": scenario.get("hostname", "my-server"),
            "instance-id": str(scenario.get("instance_id", 42)),
            "public-ipv4": scenario.get("public_ipv4", "1.2.3.4"),
            "region": scenario.get("region", "eu-central")}


def private_networks(scenario: Dict[str, Any]) -> str:
    lines = []
    for number, iface in enumerate(scenario["interfaces"]):
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
