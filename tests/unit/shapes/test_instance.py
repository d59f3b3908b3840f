"""A VM's instance (shapes/instance.py): the defaults of a bare scenario."""

from __future__ import annotations

from nm_cloud_setup.shapes.instance import instance
from tests.support.vm_documents import MINIMAL


def test_defaults_for_a_bare_scenario():
    inst = instance(MINIMAL)
    assert inst.instance_id.startswith("i-") and len(inst.instance_id) == 19
    assert inst.instance_id == instance(MINIMAL).instance_id  # stable
    assert inst.availability_zone[:-1] == inst.region  # what botocore relies on
    assert inst.hostname == "ip-" + MINIMAL["interfaces"][0]["addresses"][0].replace(".", "-")
