"""One module per cloud; ``PROVIDERS`` maps the configuration key to its class."""

from __future__ import annotations

from typing import Dict, Type

from nm_cloud_setup.providers.base import Provider
from nm_cloud_setup.providers.ec2 import Ec2

PROVIDERS: Dict[str, Type[Provider]] = {"ec2": Ec2}
