"""EC2's instance metadata service (IMDS): IMDSv2 tokens, and the tree from ``shapes.ec2``."""

from __future__ import annotations

from nm_cloud_setup.emulator.common import UpstreamPaths
from nm_cloud_setup.shapes import ec2 as shapes
from nm_cloud_setup.shapes.common import NOT_FOUND, UNAUTHORIZED, Answer, Tokens, text
from nm_cloud_setup.shapes.instance import instance

_MACS = r"/2018-09-24/meta-data/network/interfaces/macs/"
UPSTREAM = UpstreamPaths(("PUT", r"/latest/api/token"), ("GET", _MACS),
                         ("GET", _MACS + r"[0-9a-f:]{17}/(subnet-ipv4-cidr-block|local-ipv4s)"))


class Ec2Api:
    """EC2's IMDS for the scenario's one VM, whoever asks."""

    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state
        self.tokens = Tokens(shapes.TTL_HEADER, shapes.TOKEN_HEADER)

    def handle(self, method: str, path: str, headers) -> Answer:
        mode = self.state.scenario.get("ec2", {}).get("tokens", "optional")
        if path == shapes.TOKEN_PATH:
            if method != "PUT" or mode == "unsupported":
                return NOT_FOUND if mode == "unsupported" else text("", 405)
            return self.tokens.issue(headers)
        if method != "GET":
            return text("", 405)
        if self.tokens.refused(headers, mode):
            return UNAUTHORIZED
        return shapes.get(instance(self.state.scenario), path) or NOT_FOUND
