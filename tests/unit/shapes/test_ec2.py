"""EC2's shape (shapes/ec2.py): its tree crawled as cloud-init crawls it, absent values,
user data and the identity document."""

from __future__ import annotations

import json

import pytest

from nm_cloud_setup.shapes import ec2
from nm_cloud_setup.shapes.instance import instance
from tests.support.vm_documents import FULL, MINIMAL


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


def test_a_nics_public_addresses_one_a_line():
    """A scenario's ``public_ipv4`` may be a list: EC2 lists them one a line."""
    vm = {"interfaces": [{"mac": "02:00:00:00:00:01", "device_number": 0,
                          "subnet": "10.0.0.0/24", "addresses": ["10.0.0.5"],
                          "public_ipv4": ["203.0.113.1", "203.0.113.2"]}]}
    path = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/public-ipv4s"
    assert ec2.get(instance(vm), path)[2] == b"203.0.113.1\n203.0.113.2"


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
