"""Hetzner (providers/hetzner.py): private networks and alias IPs in YAML, a MAC of digits,
a bad network failing alone, bad documents, the identity, and a run against the emulator."""

from __future__ import annotations

import logging

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData
from nm_cloud_setup.providers import hetzner
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from tests.support.parsers import HZ_MACS, sample

FIRST, SECOND = HZ_MACS  # 86:00:00:2A:7D:E0 (10.0.0.0/24), 86:00:00:20:10:50 (192.168.0.0/24)


def networks(*changes, macs=HZ_MACS):
    """The recorded private networks read for ``macs``, each (old, new) of ``changes``
    replaced once: [(mac, index, addresses, error)]."""
    text = sample("hetzner_private_networks.yaml")
    for old, new in changes:
        text = text.replace(old, new, 1)
    return [(n.mac, n.index, n.addresses, n.error)
            for n in hetzner.parse_private_networks(text, macs)]


OK_SECOND = (SECOND, 2, ("192.168.0.2",), None)


def test_hetzner_private_networks_and_alias_ips():
    first, second = hetzner.parse_private_networks(sample("hetzner_private_networks.yaml"),
                                                   HZ_MACS)
    assert (first.mac, first.index, first.addresses, first.subnet, first.gateway) == (
        FIRST, 1, ("10.0.0.2", "10.0.0.3", "10.0.0.4"), "10.0.0.0/24", "10.0.0.1")
    assert (second.mac, second.index, second.addresses, second.subnet, second.gateway) == (
        SECOND, 2, ("192.168.0.2",), "192.168.0.0/24", "192.168.0.1")


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


def test_hetzner_a_network_of_another_nic_is_skipped_not_the_rest():
    assert networks(macs={SECOND: "enp8s0"}) == [OK_SECOND]


def test_hetzner_a_network_without_a_mac_is_warned_of_and_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="nm_cloud_setup.providers.hetzner"):
        nics = networks(("mac_address: 86:00:00:2a:7d:e0", "mac_address: nope"))
    assert nics == [OK_SECOND]
    assert [r.getMessage() for r in caplog.records] == [
        "hetzner: private network [0] has no valid 'mac_address': ignoring it"]


@pytest.mark.parametrize("number, index", [
    (None, 1),  # no interface_num: the position + 1 (the public NIC is 0)
    ("0", 0), ("65535", 65535)])
def test_hetzner_interface_num_is_the_table_index(number, index):
    new = "" if number is None else f"  interface_num: {number}\n"
    changes = [("  interface_num: 1\n", new)]
    if number is None:
        changes.append(("  interface_num: 2\n", ""))  # the second's default: 2
    assert networks(*changes) == [(FIRST, index, ("10.0.0.2", "10.0.0.3", "10.0.0.4"), None),
                                  OK_SECOND]


@pytest.mark.parametrize("aliases, addresses", [
    ("[10.9.0.3, 10.0.0.4]", ("10.0.0.2", "10.0.0.4")),  # left out, the next one kept
    ("[10.0.0.3, 10.9.0.4]", ("10.0.0.2", "10.0.0.3")),
    ("[10.0.0.2, 10.0.0.3, 10.0.0.3]", ("10.0.0.2", "10.0.0.3")),  # once each
    ("", ("10.0.0.2",)),  # null
    ("[" + ", ".join(["10.0.0.3"] * 1023) + "]", ("10.0.0.2", "10.0.0.3")),
])
def test_hetzner_alias_ips_in_the_subnet_once_each(aliases, addresses, caplog):
    with caplog.at_level(logging.WARNING, logger="nm_cloud_setup.providers.hetzner"):
        nics = networks(("alias_ips: [10.0.0.3, 10.0.0.4]", f"alias_ips: {aliases}"))
    assert nics == [(FIRST, 1, addresses, None), OK_SECOND]
    outside = [a for a in ("10.9.0.3", "10.9.0.4") if a in aliases]
    assert [r.getMessage() for r in caplog.records] == [
        f"hetzner: alias IP {a} of {FIRST} is outside the subnet 10.0.0.0/24: not configured"
        for a in outside]


@pytest.mark.parametrize("old, new, error", [
    ("ip: 10.0.0.2", "ip: 10.0.0.256", "invalid IPv4 address '10.0.0.256'"),
    ("ip: 10.0.0.2", "ip: [10.0.0.2]", "private network: 'ip' is missing or not a str"),
    ("ip: 10.0.0.2", "ip: 10.1.0.2", "address 10.1.0.2 is outside the NIC's subnet 10.0.0.0/24"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: 10.0.0.3",
     "'alias_ips' is not a list of addresses"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: [10.0.0.3, 7]",
     "'alias_ips' is not a list of addresses"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: [10.0.0.3, x]", "invalid IPv4 alias IP 'x'"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: [" + ", ".join(["10.0.0.3"] * 1024) + "]",
     "1024 alias IPs for one NIC: refusing"),
    ("subnet: 10.0.0.0/24", "subnet: 10.0.0.0",
     "IPv4 subnet '10.0.0.0' has no usable prefix length (1..32)"),
    ("subnet: 10.0.0.0/24", "subnet: [10.0.0.0/24]",
     "private network: 'subnet' is missing or not a str"),
    ("gateway: 10.0.0.1", "gateway: gw", "invalid IPv4 gateway 'gw'"),
    ("gateway: 10.0.0.1", "gateway: [10.0.0.1]",
     "private network: 'gateway' is missing or not a str"),
    ("interface_num: 1", "interface_num: one", "invalid interface_num 'one'"),
    ("interface_num: 1", "interface_num: true", "invalid interface_num True"),
    ("interface_num: 1", "interface_num: -1", "invalid interface_num -1"),
    ("interface_num: 1", "interface_num: 65536", "invalid interface_num 65536"),
])
def test_hetzner_a_bad_network_fails_alone(old, new, error):
    # a failed network keeps its MAC and its place (position + 1) as index
    assert networks((old, new)) == [(FIRST, 1, (), error), OK_SECOND]


def test_hetzner_two_networks_with_one_index_the_second_waits():
    assert networks(("interface_num: 1", "interface_num: 2")) == [
        (FIRST, 2, ("10.0.0.2", "10.0.0.3", "10.0.0.4"), None),
        (SECOND, 2, (), f"index 2 is also that of {FIRST}: leaving this NIC as it is until the "
         "metadata settles")]


@pytest.mark.parametrize("body, message", [
    ("- ip: [unclosed\n", "private-networks is not valid YAML (while parsing a flow sequence)"),
    ("\t- x", "private-networks is not valid YAML (while scanning for the next token)"),
    ("ip: 10.0.0.2\n", "private-networks is not a list"),
    ("- 2001-13-45\n", "private-networks cannot be read (ValueError)"),  # no such date
    ("[" * 1000, "private-networks cannot be read (RecursionError)"),  # too deep
])
def test_hetzner_bad_documents_raise(body, message):
    with pytest.raises(MetadataError) as caught:
        hetzner.parse_private_networks(body, HZ_MACS)
    assert str(caught.value) == message


def test_hetzner_an_entry_that_is_no_mapping_matches_no_nic():
    assert hetzner.parse_private_networks("- &a [*a]\n- x\n", HZ_MACS) == []


def test_hetzner_identity():
    identity = hetzner.parse_identity(sample("hetzner_metadata.yaml"))
    assert (identity.instance_id, identity.hostname, identity.region, identity.zone) == (
        "42", "my-server", "eu-central", "fsn1-dc14")
    assert identity.public_ipv4 == ("192.0.2.44",) and identity.instance_type is None
    bare = hetzner.parse_identity("hostname: h\n")
    assert (bare.instance_id, bare.hostname, bare.public_ipv4) == (None, "h", ())


@pytest.mark.parametrize("body, message", [
    ("- a\n", "the Hetzner metadata is not a YAML mapping"),
    ("", "the Hetzner metadata is not a YAML mapping"),
    ("a: [b\n", "the Hetzner metadata is not valid YAML (while parsing a flow sequence)"),
    ("a: 2001-13-45\n", "the Hetzner metadata cannot be read (ValueError)"),
])
def test_hetzner_bad_identity_documents_raise(body, message):
    with pytest.raises(MetadataError) as caught:
        hetzner.parse_identity(body)
    assert str(caught.value) == message


def test_hetzner_a_run_against_the_emulator_and_its_identity(make_emulator):
    scenario = {**scenarios.generate(2, 2), "instance_id": 77, "hostname": "db-1",
                "region": "us-east", "availability_zone": "ash-dc1",
                "public_ipv4": "198.51.100.9"}
    emulator = make_emulator("hetzner", scenario)
    provider = hetzner.Hetzner(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)), {})
    provider.detect()
    instance = provider.get_config({"02:00:00:00:00:02": "eth2"})
    assert instance.provider == "hetzner" and not instance.failed
    assert [(i.mac, i.index, i.addresses, i.subnet, i.gateway)
            for i in instance.interfaces] == [
        ("02:00:00:00:00:02", 2, ("172.31.32.10", "172.31.32.11"), "172.31.32.0/20",
         "172.31.32.1")]
    identity = provider.identity(InstanceData("hetzner"))
    assert (identity.instance_id, identity.hostname, identity.region, identity.zone,
            identity.public_ipv4) == ("77", "db-1", "us-east", "ash-dc1", ("198.51.100.9",))
    # the networks fetched while detecting; the identity in one more request
    assert emulator.state.paths == {"/hetzner/v1/metadata/private-networks": 1,
                                    "/hetzner/v1/metadata": 1}
