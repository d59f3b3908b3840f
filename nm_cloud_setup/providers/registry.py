"""Every cloud this tool knows, in one table: adding a cloud starts with a row here.

A row's ``key`` names everything of the cloud's: its variable
``NM_CLOUD_SETUP_<KEY>``, its provider ``providers/<key>.py`` (class ``cls``), its
documents ``shapes/<key>.py``, its emulator handler ``emulator/<key>.py`` (class
``<cls>Api``) and its page ``docs/providers/<key>.md``.  ``log_name`` is the name
upstream's log lines give it.  The rows are in upstream's order, in which the
variables are read and the providers reported; ``rank`` is the cloud's place in
the choice order (``pipeline/choice.py``: OpenStack before EC2, since an
OpenStack cloud answers EC2's API too, never the reverse; then upstream's order).

``dmi``: the DMI fields and values that name the cloud (``pipeline/dmi.py``), as
cloud-init's ``ds-identify`` and systemd's ``detect-virt`` read them; tried in
choice order, each row's in its order.

No imports at module level: any part of the tool may read the table for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

Signature = Tuple[str, Tuple[str, ...]]  # (DMI field, the values that name the cloud)
_NOVA = ("OpenStack Nova", "OpenStack Compute")


@dataclass(frozen=True)
class Cloud:
    key: str
    cls: str
    log_name: str
    rank: int
    dmi: Tuple[Signature, ...]


CLOUDS: Tuple[Cloud, ...] = (
    Cloud("ec2", "Ec2", "ec2", 1,
          (("sys_vendor", ("Amazon EC2",)), ("board_vendor", ("Amazon EC2",)))),  # Nitro
    Cloud("azure", "Azure", "azure", 2,
          (("chassis_asset_tag", ("7783-7084-3265-9085-8269-3286-77",)),)),
    Cloud("gcp", "Gcp", "GCP", 3, (("product_name", ("Google Compute Engine",)),)),
    Cloud("aliyun", "Aliyun", "aliyun", 4, (("product_name", ("Alibaba Cloud ECS",)),)),
    Cloud("oci", "Oci", "oci", 5, (("chassis_asset_tag", ("OracleCloud.com",)),)),
    Cloud("openstack", "OpenStack", "openstack", 0,
          (("product_name", _NOVA),
           ("chassis_asset_tag", _NOVA + ("OpenTelekomCloud", "SAP CCloud VM", "HUAWEICLOUD")))),
    Cloud("digitalocean", "DigitalOcean", "digitalocean", 6,
          (("sys_vendor", ("DigitalOcean",)),)),
    Cloud("hetzner", "Hetzner", "hetzner", 7, (("sys_vendor", ("Hetzner",)),)),
)
KEYS: Tuple[str, ...] = tuple(cloud.key for cloud in CLOUDS)
BY_KEY: Dict[str, Cloud] = {cloud.key: cloud for cloud in CLOUDS}
CHOICE_ORDER: Tuple[str, ...] = tuple(c.key for c in sorted(CLOUDS, key=lambda c: c.rank))


def provider_class(key: str) -> type:
    """The provider class of a key (``ec2``...), importing just its module."""
    import importlib

    module = importlib.import_module(f"nm_cloud_setup.providers.{key}")
    return getattr(module, BY_KEY[key].cls)
