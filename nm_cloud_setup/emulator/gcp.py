"""Google Compute Engine metadata: recursive JSON in one request, and the text walk."""

from __future__ import annotations

from nm_cloud_setup.emulator.common import (NOT_FOUND, Answer, UpstreamPaths, as_json, query,
                                            segments, text, walk)
from nm_cloud_setup.shapes.gcp import interfaces, text_tree

PREFIX = "/computeMetadata/v1/instance"
_NICS = PREFIX + "/network-interfaces/"
UPSTREAM = UpstreamPaths(("GET", PREFIX + "/id"), ("GET", _NICS), ("GET", _NICS + r"\d+/mac"),
                         ("GET", _NICS + r"\d+/forwarded-ips/(\d+)?"))


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
        value = walk(text_tree(self.state.scenario), parts)
        return NOT_FOUND if value is None else text(value)
