"""IPv6 (providers/ipv6.py): the validators the providers share, and every cloud's IPv6
sample mutated: nothing but the project's own errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.providers import aliyun, azure, gcp, ipv6, oci, openstack
from tests.support.parsers import BAD_IPV6, OCI_MACS, mutate, sample


@pytest.mark.parametrize("text, expected", [
    ("2600:1F18:AAAA:BB00:0:0:0:10", "2600:1f18:aaaa:bb00::10"),
    (" 2600:1f18::10\n", "2600:1f18::10"),
    ("fd00:ec2::5", "fd00:ec2::5"),
])
def test_addresses_are_normalised(text, expected):
    assert ipv6.parse_ipv6(text) == expected


@pytest.mark.parametrize("value, message", BAD_IPV6)
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


# -- every IPv6 sample, mutated: nothing but the project's own errors ----------

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
    "oci": ("oci_vnics_ipv6.json", lambda t: oci.parse_vnics(t, OCI_MACS)),
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
