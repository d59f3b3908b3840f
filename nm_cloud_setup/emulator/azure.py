"""Azure IMDS: the network JSON in one request, upstream's text walk, and the 5/s throttle."""

from __future__ import annotations

import collections
import time
from typing import Any

from nm_cloud_setup.emulator.common import (NOT_FOUND, Answer, UpstreamPaths, as_json, query,
                                            segments, text, walk)
from nm_cloud_setup.shapes.azure import compute, network

PREFIX = "/metadata/instance"
_NIC = r"/metadata/instance/network/interface/\d+/"
_Q = r"\?format=text&api-version=2017-04-02"
UPSTREAM = UpstreamPaths(*(("GET", path + _Q) for path in (
    r"/metadata/instance", r"/metadata/instance/network/interface/", _NIC + "macAddress",
    _NIC + r"ipv4/ipAddress/", _NIC + r"ipv4/ipAddress/\d+/privateIpAddress",
    _NIC + r"ipv4/subnet/0/address/", _NIC + r"ipv4/subnet/0/prefix/")))


class AzureApi:
    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state
        self.recent: collections.deque = collections.deque()

    def handle(self, method: str, path: str, headers) -> Answer:
        options = self.state.scenario.get("azure", {})
        if self._throttled(options.get("rate", 5)):
            retry = options.get("retry_after")
            answer = text("Too many requests\n", 429)
            if retry is not None:
                answer[1]["Retry-After"] = str(retry)
            return answer
        if headers.get("Metadata") != "true" or headers.get("X-Forwarded-For"):
            return as_json({"error": "Bad request. Required metadata header not specified"}, 400)
        if method != "GET" or not path.startswith(PREFIX):
            return NOT_FOUND
        params = query(path)
        if "api-version" not in params:
            return as_json({"error": "Bad request. api-version was not specified"}, 400)
        parts = segments(path, PREFIX)
        tree = {"compute": compute(self.state.scenario), "network": network(self.state.scenario)}
        if params.get("format") == "text":
            value = walk(tree, parts)
            return NOT_FOUND if value is None else text(value)
        if not options.get("bulk", True):
            return as_json({"error": "Bad request. api-version is invalid"}, 400)
        node: Any = tree
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                return NOT_FOUND
            node = node[part]
        return as_json(node)

    def _throttled(self, rate: float) -> bool:
        """More than ``rate`` requests within the last second: HTTP 429 (as Azure)."""
        now = time.monotonic()
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        self.recent.append(now)
        if len(self.recent) > rate:
            self.state.throttled += 1
            return True
        return False
