"""Oracle Cloud Infrastructure instance metadata v2 (``/opc/v2``)."""

from __future__ import annotations

from nm_cloud_setup.emulator.common import NOT_FOUND, Answer, UpstreamPaths, as_json, text
from nm_cloud_setup.shapes.oci import instance, vnics

UPSTREAM = UpstreamPaths(("GET", r"/opc/v2/instance"), ("GET", r"/opc/v2/vnics"))


class OciApi:
    upstream = UPSTREAM

    def __init__(self, state: object) -> None:
        self.state = state

    def handle(self, method: str, path: str, headers) -> Answer:
        if headers.get("Authorization") != "Bearer Oracle":
            return text("Unauthorized\n", 401)
        if method != "GET":
            return NOT_FOUND
        if path in ("/opc/v2/instance", "/opc/v2/instance/"):
            return as_json(instance(self.state.scenario))
        if path in ("/opc/v2/vnics", "/opc/v2/vnics/"):
            return as_json(vnics(self.state.scenario))
        return NOT_FOUND
