"""Alibaba Cloud ECS metadata: ``meta-data/all`` in one request, per-key paths, tokens."""

from __future__ import annotations

from nm_cloud_setup.emulator.common import (NOT_FOUND, Answer, Tokens, UpstreamPaths, as_json,
                                            segments, text, walk)
from nm_cloud_setup.shapes.aliyun import TOKEN_HEADER, TTL_HEADER, instance, macs

_MACS = r"/2016-01-01/meta-data/network/interfaces/macs/"
UPSTREAM = UpstreamPaths(
    ("GET", r"/2016-01-01/meta-data/"), ("GET", _MACS),
    ("GET", _MACS + r"[0-9a-f:]{17}/(vpc-cidr-block|private-ipv4s|primary-ip-address|netmask|"
     r"gateway)"))


class AliyunApi:
    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state
        self.tokens = Tokens(TTL_HEADER, TOKEN_HEADER)

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
