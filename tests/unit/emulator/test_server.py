"""The emulator's server (emulator/server.py) in scenario mode: the identity endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from nm_cloud_setup.emulator import scenario as scenarios


def _fetch(url: str) -> tuple:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_scenario_mode_answers_the_identity_endpoints(make_emulator):
    scenario = {**scenarios.generate(2, 3), "instance_id": "i-0abc", "region": "eu-north-1",
                "user_data": "#cloud-config\n"}
    url = make_emulator("ec2", scenario).url
    assert _fetch(url + "/latest/meta-data/instance-id") == (200, b"i-0abc")
    assert _fetch(url + "/latest/meta-data/placement/region") == (200, b"eu-north-1")
    assert _fetch(url + "/latest/user-data") == (200, b"#cloud-config\n")
    document = json.loads(_fetch(url + "/latest/dynamic/instance-identity/document")[1])
    assert document["instanceId"] == "i-0abc" and document["privateIp"] == "172.31.16.10"
    bare = make_emulator("ec2").url  # no identity fields: defaults
    assert _fetch(bare + "/latest/meta-data/instance-type") == (200, b"m5.large")
    assert _fetch(bare + "/latest/meta-data/public-keys/")[0] == 404
    openstack_url = make_emulator("openstack", scenario).url
    meta = json.loads(_fetch(openstack_url + "/openstack/latest/meta_data.json")[1])
    assert meta["uuid"] and meta["availability_zone"] == "eu-north-1a"
