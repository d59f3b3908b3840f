"""Alibaba Cloud ECS's metadata documents: the per-MAC network items and the instance's
own items (``meta-data/all`` holds both)."""

from __future__ import annotations

import json
from typing import Any, Dict

from nm_cloud_setup.shapes.instance import gateway, gateway6, netmask, subnet6

TOKEN_HEADER = "X-aliyun-ecs-metadata-token"
TTL_HEADER = "X-aliyun-ecs-metadata-token-ttl-seconds"


def macs(scenario: Dict[str, Any], bracketed: bool) -> Dict[str, Any]:
    result = {}
    for iface in scenario["interfaces"]:
        ips = list(reversed(iface["addresses"]))  # any order, as the real service
        result[iface["mac"].lower()] = {
            "network-interface-id": f"eni-{iface['mac'].replace(':', '')}",
            "vpc-cidr-block": scenario.get("vpc_cidr", "172.31.0.0/16"),
            "private-ipv4s": json.dumps(ips) if bracketed else ips,
            "primary-ip-address": iface["addresses"][0],
            "netmask": netmask(iface),
            "gateway": gateway(iface),
            "vpc-id": "vpc-1",
        }
        if iface.get("ipv6s"):
            ipv6s = list(iface["ipv6s"])
            result[iface["mac"].lower()].update({
                "ipv6s": json.dumps(ipv6s) if bracketed else ipv6s,
                "vswitch-ipv6-cidr-block": subnet6(iface),
                "ipv6-gateway": gateway6(iface),
            })
    return result


def instance(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """The instance's own metadata items (``status``)."""
    tree = {"instance-id": scenario.get("instance_id", "i-bp13znx0m0me8cquu1"),
            "instance": {"instance-type": scenario.get("instance_type", "ecs.g6e.large")},
            "region-id": scenario.get("region", "cn-hangzhou"),
            "zone-id": scenario.get("availability_zone", "cn-hangzhou-i"),
            "hostname": scenario.get("hostname", "iZbp13znx0m0me8cquu1Z")}
    if scenario.get("public_ipv4"):
        tree["eipv4"] = scenario["public_ipv4"]
    return tree
