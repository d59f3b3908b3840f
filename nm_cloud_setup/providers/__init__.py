"""One module per cloud; ``PROVIDERS`` maps the configuration key to its class."""

from __future__ import annotations

from typing import Dict, Type

from nm_cloud_setup.providers.aliyun import Aliyun
from nm_cloud_setup.providers.azure import Azure
from nm_cloud_setup.providers.base import Provider
from nm_cloud_setup.providers.ec2 import Ec2
from nm_cloud_setup.providers.gcp import Gcp
from nm_cloud_setup.providers.oci import Oci
from nm_cloud_setup.providers.openstack import OpenStack

PROVIDERS: Dict[str, Type[Provider]] = {
    "ec2": Ec2, "azure": Azure, "gcp": Gcp, "aliyun": Aliyun, "oci": Oci, "openstack": OpenStack,
}
