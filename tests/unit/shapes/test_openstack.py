"""OpenStack's shape (shapes/openstack.py): its files."""

from __future__ import annotations

import json

from nm_cloud_setup.shapes import openstack
from nm_cloud_setup.shapes.instance import instance
from tests.support.vm_documents import FULL, MINIMAL


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
