"""The shared response shapes: EC2's tree crawled as cloud-init crawls it, OpenStack's files."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.shapes import ec2, openstack
from nm_cloud_setup.shapes.instance import instance

FULL = {
    "instance_id": "i-0123456789abcdef0", "hostname": "web-1", "image_id": "ami-12345678",
    "instance_type": "t3.small", "region": "eu-west-1", "availability_zone": "eu-west-1b",
    "user_data": "#cloud-config\n", "ssh_keys": ["ssh-ed25519 AAAA alice", "ssh-rsa BBBB bob"],
    "public_ipv4": "203.0.113.7",
    "interfaces": [
        {"mac": "02:00:00:00:00:02", "device_number": 1, "subnet": "10.1.0.0/24",
         "addresses": ["10.1.0.5"], "ipv6_subnet": "fd00:1::/64", "ipv6s": ["fd00:1::5"],
         "public_ipv4": "203.0.113.8"},
        {"mac": "02:00:00:00:00:01", "device_number": 0, "subnet": "10.0.0.0/24",
         "addresses": ["10.0.0.5", "10.0.0.6"]}],
}
MINIMAL = scenarios.generate(1, 1)


def crawl(inst, base: str) -> dict:
    """What cloud-init's MetadataMaterializer does: every listed entry, recursively."""
    status, _, body = ec2.get(inst, base)
    assert status == 200, base
    tree = {}
    for line in body.decode().splitlines():
        if line.endswith("/"):
            tree[line[:-1]] = crawl(inst, base + line)
        else:
            index, _, name = line.partition("=")
            path = f"{index}/openssh-key" if name else line
            answer = ec2.get(inst, base + path)
            assert answer is not None and answer[0] == 200, base + path
            tree[name or line] = answer[2].decode()
    return tree


@pytest.mark.parametrize("vm", [FULL, MINIMAL], ids=["full", "minimal"])
@pytest.mark.parametrize("version", ["latest", "2021-03-23", "2018-09-24", "2009-04-04"])
def test_every_listed_entry_answers(vm, version):
    tree = crawl(instance(vm), f"/{version}/meta-data/")
    assert tree["instance-id"]
    assert set(tree["placement"]) == {"availability-zone", "region"}


def test_the_full_tree():
    tree = crawl(instance(FULL), "/latest/meta-data/")
    assert tree["instance-id"] == "i-0123456789abcdef0"
    assert tree["local-ipv4"] == "10.0.0.5" and tree["mac"] == "02:00:00:00:00:01"
    assert tree["public-ipv4"] == "203.0.113.7"
    assert tree["public-keys"] == {"key-0": "ssh-ed25519 AAAA alice", "key-1": "ssh-rsa BBBB bob"}
    assert tree["placement"] == {"availability-zone": "eu-west-1b", "region": "eu-west-1"}
    nic = tree["network"]["interfaces"]["macs"]["02:00:00:00:00:02"]
    assert nic["ipv6s"] == "fd00:1::5" and nic["subnet-ipv6-cidr-blocks"] == "fd00:1::/64"
    assert nic["public-ipv4s"] == "203.0.113.8" and nic["device-number"] == "1"


def test_absent_values_are_not_listed_and_answer_404():
    inst = instance(MINIMAL)
    listing = ec2.get(inst, "/latest/meta-data/")[2].decode().splitlines()
    assert "public-ipv4" not in listing and "public-keys/" not in listing
    for path in ("/latest/meta-data/public-ipv4", "/latest/meta-data/public-keys/",
                 "/latest/user-data", "/latest/meta-data/nothing", "/2030-01-01/meta-data/",
                 "/latest/meta-data/instance-id/more"):
        assert ec2.get(inst, path) is None, path
    assert ec2.get(inst, "/latest")[2] == b"dynamic\nmeta-data"


@pytest.mark.parametrize("path", ["/latest/meta-data/placement/availability-zone",
                                  "/latest/meta-data/placement/availability-zone/"])
def test_values_answer_with_and_without_a_trailing_slash(path):
    assert ec2.get(instance(FULL), path)[2] == b"eu-west-1b"


def test_user_data_is_served_as_stored_and_versions_are_listed():
    inst = instance({**FULL, "user_data": "#!/bin/sh\necho 'é'\n"})
    assert ec2.get(inst, "/latest/user-data")[2] == "#!/bin/sh\necho 'é'\n".encode()
    assert ec2.get(inst, "/latest/user-data/")[2] == "#!/bin/sh\necho 'é'\n".encode()
    versions = ec2.get(inst, "/")[2].decode().splitlines()
    assert versions[-1] == "latest" and "2021-03-23" in versions and "2009-04-04" in versions


def test_identity_document():
    listing = ec2.get(instance(FULL), "/latest/dynamic/instance-identity/")[2]
    assert listing == b"document"
    document = json.loads(ec2.get(instance(FULL), "/latest/dynamic/instance-identity/document")[2])
    assert {k: document[k] for k in ("instanceId", "region", "availabilityZone", "instanceType",
                                     "imageId", "privateIp")} == {
        "instanceId": "i-0123456789abcdef0", "region": "eu-west-1",
        "availabilityZone": "eu-west-1b", "instanceType": "t3.small",
        "imageId": "ami-12345678", "privateIp": "10.0.0.5"}
    assert {"accountId", "architecture", "pendingTime", "version"} <= set(document)


def test_defaults_for_a_bare_scenario():
    inst = instance(MINIMAL)
    assert inst.instance_id.startswith("i-") and len(inst.instance_id) == 19
    assert inst.instance_id == instance(MINIMAL).instance_id  # stable
    assert inst.availability_zone[:-1] == inst.region  # what botocore relies on
    assert inst.hostname == "ip-" + MINIMAL["interfaces"][0]["addresses"][0].replace(".", "-")


def test_openstack_files():
    inst = instance(FULL)
    assert "2018-08-27" in openstack.get(inst, "/openstack")[2].decode().splitlines()
    listing = openstack.get(inst, "/openstack/latest/")[2].decode().splitlines()
    assert {"meta_data.json", "network_data.json", "user_data"} <= set(listing)
    meta = json.loads(openstack.get(inst, "/openstack/2018-08-27/meta_data.json")[2])
    assert meta["public_keys"] == {"key-0": "ssh-ed25519 AAAA alice", "key-1": "ssh-rsa BBBB bob"}
    assert meta["uuid"] == openstack.instance_uuid(inst) and meta["hostname"] == "web-1"
    network = json.loads(openstack.get(inst, "/openstack/latest/network_data.json")[2])
    assert {link["ethernet_mac_address"] for link in network["links"]} == {
        "02:00:00:00:00:01", "02:00:00:00:00:02"}
    assert all(link["type"] and net["type"] in ("ipv4", "ipv6")
               for link in network["links"] for net in network["networks"])
    v6 = [net for net in network["networks"] if net["type"] == "ipv6"]  # static, as Nova's
    assert sorted(net["ip_address"] for net in v6) == sorted(
        a for iface in FULL["interfaces"] for a in iface.get("ipv6s", []))
    assert openstack.get(inst, "/openstack/latest/user_data")[2] == b"#cloud-config\n"
    assert openstack.get(instance(MINIMAL), "/openstack/latest/user_data") is None


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
