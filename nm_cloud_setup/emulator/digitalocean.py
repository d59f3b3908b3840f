"""DigitalOcean's droplet metadata (the document and its scenario keys: ``shapes.digitalocean``)."""

from __future__ import annotations

from nm_cloud_setup.emulator.common import NOT_FOUND, Answer, as_json
from nm_cloud_setup.shapes.digitalocean import DOCUMENT, document


class DigitalOceanApi:
    def __init__(self, state: object) -> None:
        self.state = state

    def handle(self, method: str, path: str, headers) -> Answer:
        if method != "GET" or path.split("?", 1)[0] != DOCUMENT:
            return NOT_FOUND
        return as_json(document(self.state.scenario))
