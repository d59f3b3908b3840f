"""Every provider's IPv6 keys: documented shapes, absence (no IPv6, never an error), and
malformed values (a clear error for that NIC only; the others are still read)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.providers import aliyun, azure, ec2, gcp, ipv6, oci, openstack
from tests.support.parsers import mutate, sample

BAD = [  # (value, what the error says)
    ("2600:1f18::zz", "invalid IPv6 address"),
    ("10.0.0.5", "is an IPv4 address where an IPv6 address belongs"),
    ("fe80::5", "cannot be assigned"),
    ("ff02::1", "cannot be assigned"),
    ("::ffff:10.0.0.5", "cannot be assigned"),
]


# -- shared validators -----------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2600:1F18:AAAA:BB00:0:0:0:10", "2600:1f18:aaaa:bb00::10"),
    (" 2600:1f18::10\n", "2600:1f18::10"),
    ("fd00:ec2::5", "fd00:ec2::5"),
])
def test_addresses_are_normalised(text, expected):
    assert ipv6.parse_ipv6(text) == expected


@pytest.mark.parametrize("value, message", BAD)
def test_bad_addresses(value, message):
    with pytest.raises(MetadataError, match=message):
        ipv6.parse_ipv6(value)


@pytest.mark.parametrize("text, message", [
    ("2600:1f18::/129", "invalid IPv6 subnet"),
    ("2600:1f18::", "no usable prefix length"),
    ("2600:1f18::/0", "no usable prefix length"),
    ("10.0.0.0/24", "IPv4 subnet where an IPv6 one belongs"),
    ("2600:1f18::/x", "invalid IPv6 subnet"),
])
def test_bad_subnets(text, message):
    with pytest.raises(MetadataError, match=message):
        ipv6.parse_subnet6(text)


@pytest.mark.parametrize("value, expected", [
    (64, 64), ("64", 64), ("ffff:ffff:ffff:ffff::", 64), ("ffff:ffff:ffff::", 48)])
def test_prefixes(value, expected):
    assert ipv6.parse_prefix6(value) == expected


@pytest.mark.parametrize("value", ["129", "0", "ffff::ffff", "255.255.255.0", True])
def test_bad_prefixes(value):
    with pytest.raises(MetadataError):
        ipv6.parse_prefix6(value)


# -- EC2 -------------------------------------------------------------------------

def ec2_values(**over):
    values = {"device-number": "1", "local-ipv4s": "10.0.1.10",
              "subnet-ipv4-cidr-block": "10.0.1.0/24",
              "ipv6s": "2600:1f18:aaaa:bb00::10\n2600:1f18:aaaa:bb00::11\n",
              "subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:bb00::/64"}
    values.update(over)
    return values


def test_ec2_dual_stack():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values())
    assert nic.ipv6_addresses == ("2600:1f18:aaaa:bb00::10", "2600:1f18:aaaa:bb00::11")
    assert (nic.ipv6_subnet, nic.ipv6_gateway) == ("2600:1f18:aaaa:bb00::/64", None)


def test_ec2_ipv6_only_nic_answers_404_for_local_ipv4s():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "local-ipv4s": None, "subnet-ipv4-cidr-block": None}))
    assert nic.addresses == () and nic.subnet is None and len(nic.ipv6_addresses) == 2


def test_ec2_absent_ipv6_keys_mean_no_ipv6():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "ipv6s": None, "subnet-ipv6-cidr-blocks": None}))
    assert nic.ipv6_addresses == () and nic.ipv6_subnet is None and nic.addresses


def test_ec2_subnet_holding_the_addresses_is_chosen():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:cc00::/64\n2600:1f18:aaaa:bb00::/64"}))
    assert nic.ipv6_subnet == "2600:1f18:aaaa:bb00::/64"


@pytest.mark.parametrize("over, message", [
    ({"ipv6s": "2600:1f18:aaaa:bb00::10\n10.0.1.11"}, "IPv4 address where an IPv6"),
    ({"ipv6s": "2600:1f18:aaaa:bb00::1g"}, "invalid IPv6 address"),
    ({"subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:bb00::/200"}, "invalid IPv6 subnet"),
    ({"subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:cc00::/64"}, "outside the NIC's subnet"),
    ({"subnet-ipv6-cidr-blocks": None}, "subnet-ipv6-cidr-blocks not (yet) available"),
    ({"local-ipv4s": None, "ipv6s": None}, "local-ipv4s not (yet) available"),
])
def test_ec2_bad_ipv6_values(over, message):
    with pytest.raises(MetadataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**over))


def test_ec2_delegated_prefixes_are_local_routes():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "ipv4-prefix": "10.0.1.32/28\n10.0.1.48/28", "ipv6-prefix": "2600:1f18:aaaa:bb00:5::/80"}))
    assert nic.local_routes == ("10.0.1.32/28", "10.0.1.48/28", "2600:1f18:aaaa:bb00:5::/80")


@pytest.mark.parametrize("over", [{"ipv4-prefix": "2600::/80"}, {"ipv6-prefix": "10.0.1.32/28"},
                                  {"ipv6-prefix": "2600:1f18::/80/3"}])
def test_ec2_bad_delegated_prefixes(over):
    with pytest.raises(MetadataError):
        ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**over))


# -- Azure -----------------------------------------------------------------------

def test_azure_ipv6_addresses_in_a_64_via_the_fixed_link_local_router():
    (raw,) = azure.parse_network(sample("azure_network_dualstack.json"))
    nic = azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)
    assert nic.ipv6_addresses == ("ace:cab:deca:deed::4", "ace:cab:deca:deed::5")
    assert (nic.ipv6_subnet, nic.ipv6_gateway) == ("ace:cab:deca:deed::/64",
                                                   "fe80::1234:5678:9abc")


def test_azure_without_ipv6_object_or_addresses_has_no_ipv6():
    for ipv6_object in (None, {"ipAddress": []}):
        raw = azure.RawNic("x", ("10.0.0.4",), "10.0.0.0", "24", ipv6_object)
        nic = azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)
        assert nic.ipv6_addresses == () and nic.ipv6_gateway is None


@pytest.mark.parametrize("value, message", BAD + [(7, "is not a string")])
def test_azure_bad_ipv6_addresses(value, message):
    raw = azure.RawNic("x", ("10.0.0.4",), "10.0.0.0", "24",
                       {"ipAddress": [{"privateIpAddress": value}]})
    with pytest.raises(MetadataError, match=message):
        azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)


@pytest.mark.parametrize("ipv6_object", [[], {"ipAddress": "ace::4"}, {"ipAddress": ["ace::4"]}])
def test_azure_bad_ipv6_shapes(ipv6_object):
    raw = azure.RawNic("x", ("10.0.0.4",), "10.0.0.0", "24", ipv6_object)
    with pytest.raises(MetadataError, match="ipv6.ipAddress"):
        azure.interface_from(0, "00:0D:3A:5D:2D:66", raw)


# -- GCP -------------------------------------------------------------------------

def test_gcp_forwarded_ipv6_ranges_are_local_routes_and_ipv6s_recorded():
    (entry,) = gcp.parse_interfaces(sample("gcp_network_interfaces_ipv6.json"))
    nic = gcp.interface_from(0, "42:01:0A:80:00:02", entry, {})
    assert nic.local_routes == ("35.10.0.1/32", "2600:1900:4010:61::/96")
    assert nic.ipv6_addresses == ("2600:1900:4000:1d5f:0:1::",) and nic.ipv6_subnet is None


def test_gcp_forwarded_ipv6_ranges_switch_with_the_forwarded_ips():
    (entry,) = gcp.parse_interfaces(sample("gcp_network_interfaces_ipv6.json"))
    nic = gcp.interface_from(0, "42:01:0A:80:00:02", entry, {"forwarded_ips": False})
    assert nic.local_routes == ()


@pytest.mark.parametrize("key, value, message", [
    ("forwardedIpv6s", ["35.1.1.1"], "IPv4 where an IPv6 forwarded IP belongs"),
    ("forwardedIpv6s", ["2600:1900::/129"], "invalid IPv6 forwarded IP"),
    ("forwardedIpv6s", ["fe80::/64"], "cannot be delivered"),
    ("ipv6s", ["10.128.0.2"], "IPv4 address where an IPv6"),
    ("ipv6s", "2600:1900::1", "not a list"),
])
def test_gcp_bad_ipv6_values(key, value, message):
    with pytest.raises(MetadataError, match=message):
        gcp.interface_from(0, "42:01:0A:80:00:02", {key: value}, {})


# -- Aliyun ----------------------------------------------------------------------

def test_aliyun_ipv6_in_the_vswitch_block_via_its_gateway():
    ((mac, values),) = aliyun.parse_all(sample("aliyun_all_dualstack.json"))
    nic = aliyun.interface_from(0, mac.upper(), values)
    assert nic.ipv6_addresses == ("2408:4005:325:a204:1875:217f:184a:e4e",
                                  "2408:4005:325:a204:1875:217f:184a:e4f")
    assert nic.ipv6_subnet == "2408:4005:325:a204::/64"
    assert nic.ipv6_gateway == "2408:4005:325:a204:ffff:ffff:ffff:fff7"


def test_aliyun_bracketed_text_form_and_absence():
    ((_, values),) = aliyun.parse_all(sample("aliyun_all_dualstack.json"))
    text = {**values, "ipv6s": '["2408:4005:325:a204::9"]'}
    assert aliyun.interface_from(0, "00:16:3E:14:59:58", text).ipv6_addresses == (
        "2408:4005:325:a204::9",)
    bare = {k: v for k, v in values.items() if "ipv6" not in k}
    assert aliyun.interface_from(0, "00:16:3E:14:59:58", bare).ipv6_addresses == ()


@pytest.mark.parametrize("change, message", [
    ({"ipv6s": ["172.16.101.9"]}, "IPv4 address where an IPv6"),
    ({"ipv6s": ["2408:4005:325:a204::zz"]}, "invalid IPv6 address"),
    ({"vswitch-ipv6-cidr-block": "2408:4005:325:a204::/130"}, "invalid IPv6 subnet"),
    ({"vswitch-ipv6-cidr-block": None}, "vswitch-ipv6-cidr-block is missing"),
    ({"ipv6-gateway": "ff02::2"}, "cannot be a router"),
    ({"ipv6s": ["2408:4005:325:b000::1"]}, "outside"),
])
def test_aliyun_bad_ipv6_values(change, message):
    ((_, values),) = aliyun.parse_all(sample("aliyun_all_dualstack.json"))
    values = {k: v for k, v in {**values, **change}.items() if v is not None}
    with pytest.raises(MetadataError, match=message):
        aliyun.interface_from(0, "00:16:3E:14:59:58", values)


# -- OCI -------------------------------------------------------------------------

MACS = {"02:00:17:00:12:34": "ens3", "02:00:17:00:12:35": "ens5"}


def test_oci_ipv6_addresses_subnet_and_virtual_router():
    first, second = oci.parse_vnics(sample("oci_vnics_ipv6.json"), MACS)
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
    first, second = oci.parse_vnics(json.dumps(doc), MACS)
    assert message in (first.error or "") and second.error is None and second.addresses


# -- OpenStack -------------------------------------------------------------------

def test_openstack_static_ipv6_networks():
    macs = {"FA:16:3E:00:00:01": "eth0", "FA:16:3E:00:00:02": "eth1"}
    first, second = openstack.parse_network_data(sample("openstack_network_data_ipv6.json"), macs)
    assert first.addresses == ("192.168.10.5",)
    assert first.ipv6_addresses == ("2001:db8:10::5", "2001:db8:10::6")
    assert (first.ipv6_subnet, first.ipv6_gateway) == ("2001:db8:10::/64",
                                                       "fe80::f816:3eff:fe00:1")
    assert first.routes == (("2001:db8:200::/48", "2001:db8:10::fe"),)
    # An IPv6-only link: its static network, the SLAAC one left to the link.
    assert (second.addresses, second.ipv6_addresses) == ((), ("2001:db8:20::5",))


@pytest.mark.parametrize("change, message", [
    ({"ip_address": "192.168.10.7"}, "IPv4 address where an IPv6"),
    ({"ip_address": "2001:db8:10::zz"}, "invalid IPv6 address"),
    ({"netmask": "ffff:0:ffff::"}, "invalid IPv6 prefix length or netmask"),
    ({"netmask": "200"}, "not usable"),
])
def test_openstack_bad_ipv6_networks(change, message):
    doc = json.loads(sample("openstack_network_data_ipv6.json"))
    doc["networks"][1].update(change)
    (nic,) = openstack.parse_network_data(json.dumps(doc), {"FA:16:3E:00:00:01": "eth0"})
    assert message in nic.error


# -- every IPv6 sample, mutated: nothing but the project's own errors -------------

SAMPLES = {
    "azure": ("azure_network_dualstack.json",
              lambda t: [azure.interface_from(i, "00:0D:3A:5D:2D:66", r)
                         for i, r in enumerate(azure.parse_network(t))]),
    "gcp": ("gcp_network_interfaces_ipv6.json",
            lambda t: [gcp.interface_from(i, "42:01:0A:80:00:02", n, {})
                       for i, n in enumerate(gcp.parse_interfaces(t))]),
    "aliyun": ("aliyun_all_dualstack.json",
               lambda t: [aliyun.interface_from(0, "00:16:3E:14:59:58", v)
                          for _, v in aliyun.parse_all(t)]),
    "oci": ("oci_vnics_ipv6.json", lambda t: oci.parse_vnics(t, MACS)),
    "openstack": ("openstack_network_data_ipv6.json",
                  lambda t: openstack.parse_network_data(t, {"FA:16:3E:00:00:01": "eth0"})),
}
@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_ipv6_documents_raise_only_project_errors(name, data):
    filename, parse = SAMPLES[name]
    try:
        parse(json.dumps(mutate(json.loads(sample(filename)), data)))
    except CloudSetupError:
        pass


@given(st.text(max_size=120), st.text(max_size=60))
def test_arbitrary_ec2_ipv6_bodies_raise_only_project_errors(ipv6s, subnets):
    try:
        ec2.parse_interface("02:00:00:00:00:01", 0, ec2_values(**{
            "ipv6s": ipv6s, "subnet-ipv6-cidr-blocks": subnets}))
    except CloudSetupError:
        pass
