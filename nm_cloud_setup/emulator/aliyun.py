"""Alibaba Cloud ECS metadata: ``meta-data/all`` in one request, per-key paths, tokens."""

from __future__ import annotations

import json
from typing import Any, Dict

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.common import (NOT_FOUND, Answer, Tokens, UpstreamPaths, as_json,
                                            gateway, gateway6, netmask, segments, subnet6, text,
                                            walk)

TOKEN_HEADER = "X-aliyun-ecs-metadata-token"
_MACS = r"/2016-01-01/meta-data/network/interfaces/macs/"
UPSTREAM = UpstreamPaths(
    ("GET", r"/2016-01-01/meta-data/"), ("GET", _MACS),
    ("GET", _MACS + r"[0-9a-f:]{17}/(vpc-cidr-block|private-ipv4s|primary-ip-address|netmask|"
     r"gateway)"))


def macs(scenario: Dict[str, Any], bracketed: bool) -> Dict[str, Any]:
    result = {}
    for iface in scenarios.interfaces(scenario):
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


class AliyunApi:
    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state
        self.tokens = Tokens("X-aliyun-ecs-metadata-token-ttl-seconds", TOKEN_HEADER)

    def handle(self, method: str, path: str, headers) -> Answer:
        options = self.state.scenario.get("aliyun", {})
        mode = options.get("tokens", "optional")
        if path == "/latest/api/token":
            if method != "PUT" or mode == "unsupported":
                return NOT_FOUND
            return self.tokens.issue(headers)
        if self.tokens.refused(headers, mode):
            return text("Unauthorized\n", 401)
        if method != "GET":
            return NOT_FOUND
        if path == "/latest/meta-data/all":
            if not options.get("bulk", True):
                return NOT_FOUND
            return as_json({**instance(self.state.scenario), "network": {"interfaces": {
                "macs": macs(self.state.scenario, bracketed=False)}}})
        for prefix in ("/2016-01-01/meta-data", "/latest/meta-data"):
            if path.startswith(prefix):
                tree = {**instance(self.state.scenario), "network": {"interfaces": {
                    "macs": macs(self.state.scenario, bracketed=True)}}}
                value = walk(tree, segments(path, prefix))
                return NOT_FOUND if value is None else text(value)
        return NOT_FOUND
