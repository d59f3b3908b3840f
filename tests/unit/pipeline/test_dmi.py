"""DMI identity (pipeline/dmi.py): which cloud the firmware names, and a directory missing
or unreadable."""

from __future__ import annotations

import pytest

from nm_cloud_setup.pipeline import dmi


def write_dmi(path, **values):
    for name, value in values.items():
        (path / name).write_text(value + "\n")
    return str(path)


@pytest.mark.parametrize("values, cloud", [
    ({"sys_vendor": "Amazon EC2", "product_name": "m5.large"}, "ec2"),
    ({"sys_vendor": "Xen", "board_vendor": "Amazon EC2"}, "ec2"),
    ({"sys_vendor": "Microsoft Corporation",
      "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}, "azure"),
    ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "gcp"),
    ({"sys_vendor": "Alibaba Cloud", "product_name": "Alibaba Cloud ECS"}, "aliyun"),
    ({"sys_vendor": "QEMU", "chassis_asset_tag": "OracleCloud.com"}, "oci"),
    ({"sys_vendor": "OpenStack Foundation", "product_name": "OpenStack Nova"}, "openstack"),
    ({"sys_vendor": "Red Hat", "product_name": "OpenStack Compute"}, "openstack"),
    ({"sys_vendor": "QEMU", "chassis_asset_tag": "HUAWEICLOUD"}, "openstack"),
    ({"sys_vendor": "DigitalOcean", "product_name": "Droplet"}, "digitalocean"),
    ({"sys_vendor": "Hetzner", "product_name": "vServer"}, "hetzner"),
    ({"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, None),
    ({"sys_vendor": "amazon ec2"}, None),  # exact values only
    ({}, None),
])
def test_dmi_names_the_cloud(tmp_path, values, cloud):
    identity = dmi.read(write_dmi(tmp_path, **values))
    assert identity.cloud == cloud
    assert identity.as_dict()["sys_vendor"] == values.get("sys_vendor")


def test_dmi_directory_missing_or_unreadable(tmp_path):
    assert dmi.read(str(tmp_path / "absent")).cloud is None
    (tmp_path / "product_name").mkdir()  # read fails: treated as absent
    identity = dmi.read(write_dmi(tmp_path, sys_vendor="Hetzner"))
    assert identity.cloud == "hetzner" and identity.as_dict()["product_name"] is None
    assert identity.describe() == 'names hetzner (sys_vendor="Hetzner")'
