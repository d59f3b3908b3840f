"""One module per cloud, imported only when its provider is enabled."""

from __future__ import annotations

import importlib
from typing import Type

from nm_cloud_setup.providers.base import Provider

MODULES = {"ec2": "Ec2", "azure": "Azure", "gcp": "Gcp", "aliyun": "Aliyun", "oci": "Oci",
           "openstack": "OpenStack", "digitalocean": "DigitalOcean", "hetzner": "Hetzner"}


def provider_class(key: str) -> Type[Provider]:
    """The provider class of a configuration key (``ec2``...), importing just its module."""
    module = importlib.import_module(f"nm_cloud_setup.providers.{key}")
    return getattr(module, MODULES[key])
