"""Hetzner Cloud's server metadata: YAML and text under ``/hetzner/v1/metadata`` (the
documents and their scenario keys: ``shapes.hetzner``)."""

from __future__ import annotations

from nm_cloud_setup.emulator.common import NOT_FOUND, Answer, text
from nm_cloud_setup.shapes.hetzner import BASE, instance, private_networks


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
