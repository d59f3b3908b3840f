"""OpenStack's metadata service and config drive, with the shapes from ``shapes.openstack``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from nm_cloud_setup.emulator.common import UpstreamPaths
from nm_cloud_setup.shapes import openstack as shapes
from nm_cloud_setup.shapes.common import NOT_FOUND, Answer
from nm_cloud_setup.shapes.instance import instance

PATH = "/openstack/latest/network_data.json"


def network_data(scenario: Dict[str, Any]) -> Dict[str, Any]:
    return shapes.network_data(instance(scenario), scenario.get("openstack"))


def write_config_drive(scenario: Dict[str, Any], root: Path) -> Path:
    """Lay out a config-drive directory (as mounted) holding the scenario."""
    target = root / "openstack" / "latest"
    target.mkdir(parents=True, exist_ok=True)
    (target / "network_data.json").write_text(json.dumps(network_data(scenario)))
    (target / "meta_data.json").write_text(json.dumps(shapes.meta_data(instance(scenario))))
    return root


class OpenStackApi:
    upstream = UpstreamPaths()  # upstream has no OpenStack provider

    def __init__(self, state: object) -> None:
        self.state = state

    def handle(self, method: str, path: str, headers) -> Answer:
        if method != "GET" or not (path == "/openstack" or path.startswith("/openstack/")):
            return NOT_FOUND
        scenario = self.state.scenario
        return shapes.get(instance(scenario), path, scenario.get("openstack")) or NOT_FOUND
