"""The JSON clouds' parsers at once (Azure, GCP, Aliyun, OCI, OpenStack; on bytes EC2's and
the MAC listing's too): arbitrary and mutated input raises nothing but the project's own
errors.  DigitalOcean's and Hetzner's: test_digitalocean_and_hetzner.py; the IPv6
samples: test_ipv6.py.  And every provider keeps the client and options it is given."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError
from nm_cloud_setup.providers import aliyun, azure, gcp, oci, openstack, registry
from nm_cloud_setup.providers.http import HttpClient
from tests.support.parsers import OCI_MACS, json_values, mutate, sample

PARSERS = [
    lambda t: azure.parse_network(t),
    lambda t: gcp.parse_interfaces(t),
    lambda t: aliyun.parse_all(t),
    lambda t: oci.parse_vnics(t, OCI_MACS),
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
    "oci-vm": ("oci_vnics_vm.json", lambda t: oci.parse_vnics(t, OCI_MACS)),
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


@pytest.mark.parametrize("key", sorted(registry.BY_KEY))
def test_every_provider_keeps_its_client_and_options(key):
    """cli.py counts the requests sent through ``client``; the options are the cloud's."""
    client = HttpClient("http://127.0.0.1:9")  # asked nothing
    provider = registry.provider_class(key)(client, {"prefixes": "rules"})
    assert provider.client is client and provider.options == {"prefixes": "rules"}
