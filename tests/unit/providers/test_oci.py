"""OCI (providers/oci.py): VM and bare-metal VNICs, what upstream accepts and ignores, and
IPv6."""

from __future__ import annotations

import json
import logging

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import oci
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from tests.support.parsers import OCI_MACS, sample


def test_oci_vm():
    nics = oci.parse_vnics(sample("oci_vnics_vm.json"), OCI_MACS)
    assert [(n.index, n.addresses, n.gateway, n.vlan_tag) for n in nics] == [
        (0, ("10.0.0.10",), "10.0.0.1", None), (1, ("10.0.1.10",), "10.0.1.1", None)]


def test_oci_baremetal_vlan_vnics_and_missing_parent(caplog):
    nics = oci.parse_vnics(sample("oci_vnics_baremetal.json"), {"00:10:E0:00:00:01": "eno1"})
    assert [(n.mac, n.vlan_tag, n.parent_mac) for n in nics] == [
        ("00:10:E0:00:00:01", None, None), ("02:00:17:00:00:64", 100, "00:10:E0:00:00:01")]
    assert "physical NIC for nicIndex=1 not found, ignoring VNIC" in caplog.text


@pytest.mark.parametrize("change, message", [
    ({"privateIp": "10.0.0.300"}, "missing or invalid 'privateIp'"),
    ({"privateIp": None}, "missing or invalid 'privateIp'"),
    ({"subnetCidrBlock": "10.0.0.0/0"}, "missing or invalid 'subnetCidrBlock'"),
])
def test_oci_bad_vnic_is_an_error_not_dropped(change, message, caplog):
    doc = json.loads(sample("oci_vnics_vm.json"))
    doc[1].update(change)
    nics = oci.parse_vnics(json.dumps(doc), OCI_MACS)
    assert nics[0].valid and message in nics[1].error
    assert f"get-config: {message}(VNIC {doc[1]['vnicId']} idx=1)" in caplog.text  # upstream's


@pytest.mark.parametrize("change, gateway, subnet", [
    ({"virtualRouterIp": 7}, None, "10.0.1.0/24"),  # as upstream: the subnet's first host
    ({"subnetCidrBlock": "10.0.1.10/32"}, "10.0.1.1", "10.0.1.10/32"),
    ({"subnetCidrBlock": "10.0.0.0/24"}, "10.0.1.1", "10.0.0.0/24"),  # outside: kept
])
def test_oci_what_upstream_accepts_is_accepted(change, gateway, subnet):
    doc = json.loads(sample("oci_vnics_vm.json"))
    doc[1].update(change)
    nic = oci.parse_vnics(json.dumps(doc), OCI_MACS)[1]
    assert nic.valid and (nic.gateway, nic.subnet) == (gateway, subnet)


def test_oci_unusable_vnics_are_ignored_with_upstreams_warnings(caplog):
    doc = json.loads(sample("oci_vnics_baremetal.json"))
    doc.append("not an object")
    doc.append({**doc[0], "macAddr": "nope"})
    doc.append({**doc[0], "macAddr": "02:00:17:00:00:99", "nicIndex": 1024})
    doc.append({**doc[0], "macAddr": "02:00:17:00:00:98", "vlanTag": "7"})
    macs = {"00:10:E0:00:00:01": "eno1", "02:00:17:00:00:99": "x", "02:00:17:00:00:98": "y"}
    assert [n.mac for n in oci.parse_vnics(json.dumps(doc), macs)] == [
        "00:10:E0:00:00:01", "02:00:17:00:00:64"]
    for warning in ("JSON parse failure, ignoring VNIC(VNIC  idx=3)",
                    "missing or invalid 'macAddr', ignoring VNIC(VNIC ",
                    "missing or invalid 'nicIndex', ignoring VNIC(VNIC ",
                    "missing or invalid 'vlanTag', ignoring VNIC(VNIC "):
        assert "get-config: " + warning in caplog.text


def test_oci_physical_nic_without_address_still_carries_its_vlans():
    """Upstream registers a physical NIC by nicIndex whatever its address fields."""
    doc = json.loads(sample("oci_vnics_baremetal.json"))
    doc[0]["privateIp"] = None
    nics = oci.parse_vnics(json.dumps(doc), {"00:10:E0:00:00:01": "eno1"})
    assert nics[0].error and nics[1].parent_mac == "00:10:E0:00:00:01" and nics[1].valid


# -- IPv6 ----------------------------------------------------------------------

def test_oci_ipv6_addresses_subnet_and_virtual_router():
    first, second = oci.parse_vnics(sample("oci_vnics_ipv6.json"), OCI_MACS)
    assert first.ipv6_addresses == ("2603:c020:8:a00::10", "2603:c020:8:a00::11")
    assert (first.ipv6_subnet, first.ipv6_gateway) == ("2603:c020:8:a00::/64",
                                                       "fe80::200:17ff:fe00:1")
    assert second.ipv6_addresses == () and second.error is None


@pytest.mark.parametrize("change, message", [
    ({"ipv6Addresses": ["10.0.0.11"]}, "IPv4 address where an IPv6"),
    ({"ipv6Addresses": ["2603:c020:8:a00::1:zz"]}, "invalid IPv6 address"),
    ({"ipv6SubnetCidrBlock": "2603:c020:8:a00::/300"}, "invalid IPv6 subnet"),
    ({"ipv6SubnetCidrBlock": None}, "'ipv6SubnetCidrBlock' is missing"),
    ({"ipv6VirtualRouterIp": "nope"}, "invalid IPv6 gateway"),
])
def test_oci_bad_ipv6_is_an_error_for_that_vnic_only(change, message):
    doc = json.loads(sample("oci_vnics_ipv6.json"))
    doc[0].update(change)
    first, second = oci.parse_vnics(json.dumps(doc), OCI_MACS)
    assert message in (first.error or "") and second.error is None and second.addresses


# -- the instance type, and a whole run against the emulator -------------------------

@pytest.mark.parametrize("name, line", [
    ("oci_vnics_vm.json", "get-config: detected VM instance"),
    ("oci_vnics_baremetal.json", "get-config: detected baremetal instance"),
    (None, "get-config: empty VNICs metadata, cannot detect instance type")])
def test_oci_instance_type_is_upstreams_line(name, line, caplog):
    with caplog.at_level(logging.INFO, logger="nm_cloud_setup.providers.oci"):
        oci.all_vnics(sample(name) if name else "[]")
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [line]


def test_oci_get_config_keeps_the_local_vnics_and_names_the_others(make_emulator):
    emulator = make_emulator("oci", scenarios.generate(3, 2))
    provider = oci.Oci(HttpClient(emulator.url, headers=oci.Oci.headers,
                                  policy=RetryPolicy(attempts=1)), {})
    provider.detect()
    instance = provider.get_config({"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"})
    assert [(i.mac, i.index, i.addresses, i.subnet, i.gateway)
            for i in instance.interfaces] == [
        ("02:00:00:00:00:01", 0, ("172.31.16.10",), "172.31.16.0/20", "172.31.16.1"),
        ("02:00:00:00:00:02", 1, ("172.31.32.10",), "172.31.32.0/20", "172.31.32.1")]
    assert instance.unmatched == ("02:00:00:00:00:03",) and not instance.failed
    # one request: the document, fetched while detecting
    assert instance.provider == "oci" and emulator.state.requests == 1


@pytest.mark.parametrize("change, error", [
    ({"privateIp": None}, "missing or invalid 'privateIp': this VNIC cannot be configured"),
    ({"subnetCidrBlock": "x"},
     "missing or invalid 'subnetCidrBlock': this VNIC cannot be configured"),
])
def test_oci_a_vnic_without_address_or_subnet_says_which(change, error):
    doc = json.loads(sample("oci_vnics_vm.json"))
    doc[0].update(change)
    nic = oci.parse_vnics(json.dumps(doc), OCI_MACS)[0]
    assert (nic.error, nic.addresses, nic.interface_id) == (error, (), doc[0]["vnicId"])


def test_oci_an_address_outside_the_subnet_is_warned_of_with_its_vnic(caplog):
    doc = json.loads(sample("oci_vnics_vm.json"))
    doc[1]["subnetCidrBlock"] = "10.0.0.0/24"
    oci.parse_vnics(json.dumps(doc), OCI_MACS)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"get-config: {doc[1]['macAddr'].upper()}: address 10.0.1.10 is outside the NIC's "
        "subnet 10.0.0.0/24; adding it with the subnet's prefix, as upstream does"]


def test_oci_a_vlan_vnic_without_address_keeps_its_tag_parent_and_place():
    doc = json.loads(sample("oci_vnics_baremetal.json"))
    doc[1].update(privateIp=None, vlanTag=4094)  # the highest tag there is
    nics = oci.parse_vnics(json.dumps(doc), {"00:10:E0:00:00:01": "eno1"})
    assert [(n.mac, n.index, n.vlan_tag, n.parent_mac, n.interface_id, n.error)
            for n in nics] == [
        ("00:10:E0:00:00:01", 0, None, None, "ocid1.vnic.a", None),
        ("02:00:17:00:00:64", 1, 4094, "00:10:E0:00:00:01", "ocid1.vnic.b",
         "missing or invalid 'privateIp': this VNIC cannot be configured")]


def test_oci_unusable_vnics_are_warned_of_whole(caplog):
    doc = json.loads(sample("oci_vnics_baremetal.json"))[:1]
    doc.append("not an object")
    doc.append({**doc[0], "macAddr": "nope", "vnicId": 7})
    doc.append({**doc[0], "macAddr": "02:00:17:00:00:99", "nicIndex": -1})
    doc.append({**doc[0], "macAddr": "02:00:17:00:00:98", "vlanTag": 4095})
    with caplog.at_level(logging.WARNING, logger="nm_cloud_setup.providers.oci"):
        oci.parse_vnics(json.dumps(doc), {})
    assert [r.getMessage() for r in caplog.records] == [
        "get-config: JSON parse failure, ignoring VNIC(VNIC  idx=1)",
        "get-config: missing or invalid 'macAddr', ignoring VNIC(VNIC  idx=2)",
        "get-config: missing or invalid 'nicIndex', ignoring VNIC(VNIC ocid1.vnic.a idx=3)",
        "get-config: missing or invalid 'vlanTag', ignoring VNIC(VNIC ocid1.vnic.a idx=4)"]


def test_oci_bad_documents_say_what_is_wrong():
    for body, message in (("<html>", "the OCI vnics document is not valid JSON (Expecting value: "
                                     "line 1 column 1 (char 0))"),
                          ("{}", "get-config: JSON parse failure, can't configure VNICs")):
        with pytest.raises(MetadataError) as err:
            oci.all_vnics(body)
        assert str(err.value) == message


def test_oci_a_vlan_vnic_without_its_physical_nic_is_left_out_the_later_ones_kept(caplog):
    a, b, c = json.loads(sample("oci_vnics_baremetal.json"))
    nics = oci.parse_vnics(json.dumps([a, c, b]), {"00:10:E0:00:00:01": "eno1"})
    assert [(n.mac, n.parent_mac) for n in nics] == [
        ("00:10:E0:00:00:01", None), ("02:00:17:00:00:64", "00:10:E0:00:00:01")]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "get-config: physical NIC for nicIndex=1 not found, ignoring VNIC "
        "(VNIC macAddr=02:00:17:00:00:65)"]
