"""Hetzner (providers/hetzner.py): private networks and alias IPs in YAML, a MAC of digits,
a bad network failing alone, bad documents, the identity."""

from __future__ import annotations

import pytest

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import hetzner
from tests.support.parsers import HZ_MACS, sample


def test_hetzner_private_networks_and_alias_ips():
    first, second = hetzner.parse_private_networks(sample("hetzner_private_networks.yaml"),
                                                   HZ_MACS)
    assert (first.index, first.addresses, first.subnet, first.gateway) == (
        1, ("10.0.0.2", "10.0.0.3", "10.0.0.4"), "10.0.0.0/24", "10.0.0.1")
    assert (second.index, second.addresses, second.subnet) == (2, ("192.168.0.2",),
                                                                "192.168.0.0/24")


def test_hetzner_a_mac_of_digits_is_not_a_base60_number():
    """YAML 1.1 (PyYAML's safe_load) reads 86:00:00:20:10:50 as the integer 66873672650."""
    import yaml

    text = sample("hetzner_private_networks.yaml")
    assert yaml.safe_load(text)[1]["mac_address"] == 66873672650
    nics = hetzner.parse_private_networks(text, HZ_MACS)
    assert nics[1].mac == "86:00:00:20:10:50" and nics[1].error is None


def test_hetzner_no_private_networks():
    assert hetzner.parse_private_networks("[]\n", HZ_MACS) == []
    assert hetzner.parse_private_networks("", HZ_MACS) == []


def test_hetzner_alias_outside_the_subnet_is_left_out():
    text = sample("hetzner_private_networks.yaml").replace("10.0.0.4]", "10.9.0.4]")
    first = hetzner.parse_private_networks(text, HZ_MACS)[0]
    assert first.addresses == ("10.0.0.2", "10.0.0.3") and first.error is None


@pytest.mark.parametrize("old, new, message", [
    ("ip: 10.0.0.2", "ip: 10.0.0.256", "invalid IPv4 address"),
    ("ip: 10.0.0.2", "ip: 10.1.0.2", "outside the NIC's subnet"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: 10.0.0.3", "not a list of addresses"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: [10.0.0.3, x]", "invalid IPv4 alias IP"),
    ("subnet: 10.0.0.0/24", "subnet: 10.0.0.0", "no usable prefix length"),
    ("subnet: 10.0.0.0/24", "subnet: [10.0.0.0/24]", "'subnet' is missing"),
    ("gateway: 10.0.0.1", "gateway: gw", "invalid IPv4 gateway"),
    ("interface_num: 1", "interface_num: one", "invalid interface_num"),
    ("interface_num: 1", "interface_num: 2", "index 2 is also that of"),
])
def test_hetzner_a_bad_network_fails_alone(old, new, message):
    text = sample("hetzner_private_networks.yaml").replace(old, new, 1)
    nics = hetzner.parse_private_networks(text, HZ_MACS)
    bad = [n for n in nics if n.error]
    assert len(bad) == 1 and message in bad[0].error, nics
    assert bad[0].addresses == ()
    assert [n.addresses for n in nics if not n.error] == [("192.168.0.2",)] or \
        "index 2" in message


@pytest.mark.parametrize("body, message", [
    ("- ip: [unclosed\n", "not valid YAML"),
    ("ip: 10.0.0.2\n", "not a list"),
    ("\t- x", "not valid YAML"),
    ("- &a [*a]\n", "private network"),
])
def test_hetzner_bad_documents_raise_or_fail_the_entry(body, message):
    try:
        nics = hetzner.parse_private_networks(body, HZ_MACS)
    except MetadataError as err:
        assert message in str(err)
    else:
        assert nics == []  # an entry without a MAC matches no NIC


def test_hetzner_identity():
    identity = hetzner.parse_identity(sample("hetzner_metadata.yaml"))
    assert (identity.instance_id, identity.hostname, identity.region, identity.zone) == (
        "42", "my-server", "eu-central", "fsn1-dc14")
    assert identity.public_ipv4 == ("192.0.2.44",) and identity.instance_type is None
    with pytest.raises(MetadataError, match="not a YAML mapping"):
        hetzner.parse_identity("- a\n")
