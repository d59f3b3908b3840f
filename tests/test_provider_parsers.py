"""The providers' pure parsers: documented response shapes, and malformed ones."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.providers import aliyun, azure, gcp, oci, openstack
from tests.support.parsers import json_values, mutate, sample

# -- Azure ---------------------------------------------------------------------

def test_azure_network():
    raw = azure.parse_network(sample("azure_network.json"))
    assert [r.mac for r in raw] == ["000D3A5D2D66", "000D3A5D2D67"]
    nic = azure.interface_from(0, "00:0D:3A:5D:2D:66", raw[0])
    assert (nic.addresses, nic.subnet, nic.gateway) == (("10.0.0.4", "10.0.0.5"), "10.0.0.0/24",
                                                        None)


@pytest.mark.parametrize("body, message", [
    ("{}", "no 'interface' list"),
    ('{"interface": [{"macAddress": "000D3A5D2D66"}]}', "lacks macAddress"),
    ("<html>", "not valid JSON"),
])
def test_azure_bad_documents(body, message):
    with pytest.raises(MetadataError, match=message):
        azure.parse_network(body)


@pytest.mark.parametrize("addresses, subnet, prefix, message", [
    ((), "10.0.0.0", "24", "no IPv4 address"),
    (("10.0.0.400",), "10.0.0.0", "24", "invalid IPv4 address"),
    (("10.0.0.4",), "10.0.0.0", "33", "invalid subnet prefix"),
    (("10.0.0.4",), "10.0.0.0", "x", "invalid subnet prefix"),
])
def test_azure_bad_interfaces(addresses, subnet, prefix, message):
    with pytest.raises(MetadataError, match=message):
        azure.interface_from(0, "00:0D:3A:5D:2D:66", azure.RawNic("x", addresses, subnet, prefix))


def test_azure_address_outside_the_subnet_is_kept(caplog):
    nic = azure.interface_from(0, "00:0D:3A:5D:2D:66",
                               azure.RawNic("x", ("10.0.0.4", "10.0.9.4"), "10.0.0.0", "24"))
    assert nic.addresses == ("10.0.0.4", "10.0.9.4") and nic.subnet == "10.0.0.0/24"
    assert "10.0.9.4 is outside the NIC's subnet 10.0.0.0/24" in caplog.text


@pytest.mark.parametrize("text, numbers", [
    ("0/\n1/\n", [0, 1]), ("0\n\n2/\nfoo/\n-1\n", [0, 2]), ("", [])])
def test_walk_listings_skip_lines_that_are_no_number(text, numbers):
    assert azure.walk_numbers(text) == numbers


# -- GCP -----------------------------------------------------------------------

def test_gcp_interfaces():
    nics = gcp.parse_interfaces(sample("gcp_network_interfaces.json"))
    first = gcp.interface_from(0, "42:01:0A:80:00:02", nics[0], {})
    assert first.local_routes == ("35.10.0.1/32", "35.10.0.2/32", "10.8.0.0/24")
    assert first.addresses == () and first.valid
    second = gcp.interface_from(1, "42:01:0A:82:00:02", nics[1], {"target_instance_ips": False})
    assert second.local_routes == () and not second.valid and second.error is None


@pytest.mark.parametrize("body, message", [
    ("{}", "not a list"),
    ('[{"ip": "10.0.0.2"}]', "has no 'mac'"),
    ('[{"mac": "42:01:0a:80:00:02", "forwardedIps": "35.1.1.1"}]', "not a list of strings"),
])
def test_gcp_bad_documents(body, message):
    with pytest.raises(MetadataError, match=message):
        gcp.parse_interfaces(body)


@pytest.mark.parametrize("value", ["35.1.1.999", "127.0.0.1", "224.0.0.1/32", "10.0.0.0/4"])
def test_gcp_bad_forwarded_ips(value):
    with pytest.raises(MetadataError):
        gcp.interface_from(0, "42:01:0A:80:00:02", {"forwardedIps": [value]}, {})


# -- Aliyun --------------------------------------------------------------------

def test_aliyun_all():
    entries = aliyun.parse_all(sample("aliyun_all.json"))
    mac, values = entries[0]
    nic = aliyun.interface_from(0, mac.upper(), values)
    assert nic.addresses == ("172.16.101.215", "172.16.101.216", "172.16.101.220")
    # The vSwitch's subnet from primary and netmask, not the VPC block (upstream's bug).
    assert nic.subnet == "172.16.101.0/24" and nic.gateway == "172.16.101.253"


@pytest.mark.parametrize("value, expected", [
    ('["10.0.0.2","10.0.0.1"]', ["10.0.0.2", "10.0.0.1"]),
    ('[ "10.0.0.2", "10.0.0.1" ]', ["10.0.0.2", "10.0.0.1"]),
    ("10.0.0.2,10.0.0.1", ["10.0.0.2", "10.0.0.1"]),
    (["10.0.0.2"], ["10.0.0.2"]),
])
def test_aliyun_ip_lists(value, expected):
    assert aliyun.parse_ip_list(value) == expected


@pytest.mark.parametrize("change, message", [
    ({"netmask": "255.0.255.0"}, "invalid IPv4 netmask"),
    ({"netmask": None}, "netmask is missing"),
    ({"private-ipv4s": 5}, "private-ipv4s is missing"),
    ({"private-ipv4s": "[\"172.16.101.300\"]"}, "invalid IPv4 address"),
])
def test_aliyun_bad_values(change, message):
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    with pytest.raises(MetadataError, match=message):
        aliyun.interface_from(0, "00:16:3E:14:59:58", {**values, **change})


@pytest.mark.parametrize("change, addresses, gateway", [
    # As upstream: without a usable primary the first listed address leads ...
    ({"primary-ip-address": None}, ("172.16.101.216", "172.16.101.215", "172.16.101.220"),
     "172.16.101.253"),
    ({"primary-ip-address": "nope"}, ("172.16.101.216", "172.16.101.215", "172.16.101.220"),
     "172.16.101.253"),
    # ... and without a usable gateway the subnet's first host is the gateway.
    ({"gateway": "nope"}, ("172.16.101.215", "172.16.101.216", "172.16.101.220"), None),
    ({"gateway": None}, ("172.16.101.215", "172.16.101.216", "172.16.101.220"), None),
    # An address outside the netmask's subnet is kept (upstream does too).
    ({"private-ipv4s": ["172.16.200.1"]}, ("172.16.101.215", "172.16.200.1"), "172.16.101.253"),
])
def test_aliyun_lenient_values(change, addresses, gateway, caplog):
    _, values = aliyun.parse_all(sample("aliyun_all.json"))[0]
    values = {**values, **change}
    if "primary-ip-address" in change:
        values["private-ipv4s"] = ["172.16.101.216", "172.16.101.215", "172.16.101.220"]
    nic = aliyun.interface_from(0, "00:16:3E:14:59:58", values)
    assert nic.addresses[0] == addresses[0] and set(nic.addresses) == set(addresses)
    assert nic.gateway == gateway and nic.valid
    assert "<" not in caplog.text and ("going without it" in caplog.text
                                       or "outside" in caplog.text)


def test_aliyun_bad_documents():
    with pytest.raises(MetadataError, match="network.interfaces.macs"):
        aliyun.parse_all('{"network": {}}')
    with pytest.raises(MetadataError, match="no interfaces"):
        aliyun.parse_all('{"network": {"interfaces": {"macs": {}}}}')


# -- OCI -----------------------------------------------------------------------

VM_MACS = {"02:00:17:00:12:34": "ens3", "02:00:17:00:12:35": "ens5"}


def test_oci_vm():
    nics = oci.parse_vnics(sample("oci_vnics_vm.json"), VM_MACS)
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
    nics = oci.parse_vnics(json.dumps(doc), VM_MACS)
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
    nic = oci.parse_vnics(json.dumps(doc), VM_MACS)[1]
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


# -- OpenStack -----------------------------------------------------------------

def test_openstack_network_data():
    macs = {"FA:16:3E:00:00:01": "eth0", "FA:16:3E:00:00:02": "eth1"}
    (nic,) = openstack.parse_network_data(sample("openstack_network_data.json"), macs)
    assert nic.addresses == ("192.168.10.5", "192.168.10.6")
    assert (nic.subnet, nic.gateway, nic.mtu) == ("192.168.10.0/24", "192.168.10.1", 1450)
    assert nic.routes == (("10.200.0.0/16", "192.168.10.254"),)


@pytest.mark.parametrize("change, message", [
    ({"mtu": 70000}, "invalid MTU"),
    ({"mtu": "1500"}, "invalid MTU"),
])
def test_openstack_bad_links(change, message):
    doc = json.loads(sample("openstack_network_data.json"))
    doc["links"][0].update(change)
    (nic,) = openstack.parse_network_data(json.dumps(doc), {"FA:16:3E:00:00:01": "eth0"})
    assert message in nic.error


def test_openstack_bad_documents():
    with pytest.raises(MetadataError, match="no 'links'"):
        openstack.parse_network_data('{"links": {}}', {})


# -- every parser: arbitrary input raises nothing but the project's own errors -------

PARSERS = [
    lambda t: azure.parse_network(t),
    lambda t: gcp.parse_interfaces(t),
    lambda t: aliyun.parse_all(t),
    lambda t: oci.parse_vnics(t, VM_MACS),
    lambda t: openstack.parse_network_data(t, {"FA:16:3E:00:00:01": "eth0"}),
]


@pytest.mark.parametrize("parse", PARSERS, ids=["azure", "gcp", "aliyun", "oci", "openstack"])
@given(body=st.text(max_size=200) | json_values.map(json.dumps))
def test_arbitrary_bodies_raise_only_project_errors(parse, body):
    try:
        parse(body)
    except CloudSetupError:
        pass


SAMPLES = {
    "azure": ("azure_network.json", lambda t: [azure.interface_from(i, "00:0D:3A:5D:2D:66", r)
                                               for i, r in enumerate(azure.parse_network(t))]),
    "gcp": ("gcp_network_interfaces.json",
            lambda t: [gcp.interface_from(i, "42:01:0A:80:00:02", n, {})
                       for i, n in enumerate(gcp.parse_interfaces(t))]),
    "aliyun": ("aliyun_all.json", lambda t: [aliyun.interface_from(0, "00:16:3E:14:59:58", v)
                                             for _, v in aliyun.parse_all(t)]),
    "oci-vm": ("oci_vnics_vm.json", lambda t: oci.parse_vnics(t, VM_MACS)),
    "oci-bm": ("oci_vnics_baremetal.json",
               lambda t: oci.parse_vnics(t, {"00:10:E0:00:00:01": "eno1"})),
    "openstack": ("openstack_network_data.json",
                  lambda t: openstack.parse_network_data(t, {"FA:16:3E:00:00:01": "eth0"})),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_documents_raise_only_project_errors(name, data):
    filename, parse = SAMPLES[name]
    body = json.dumps(mutate(json.loads(sample(filename)), data))
    try:
        parse(body)
    except CloudSetupError:
        pass


@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_project_errors(body):
    from nm_cloud_setup.providers import ec2
    from nm_cloud_setup.providers.base import parse_mac_listing
    from nm_cloud_setup.providers.http import Response

    parsers = PARSERS + [parse_mac_listing,
                         lambda t: ec2.parse_interface("02:00:00:00:00:01", 0, {
                             "local-ipv4s": t, "subnet-ipv4-cidr-block": t})]
    for parse in parsers:
        try:
            parse(Response(200, body, {}).text("/x"))
        except CloudSetupError:
            pass
