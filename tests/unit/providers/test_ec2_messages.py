"""EC2 (providers/ec2.py): its errors' and warnings' words, whole: which key is missing
for which NIC, which value is bad (test_ec2.py has the parser and the provider)."""

from __future__ import annotations

import logging

import pytest

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import ec2
from tests.support.parsers import MAC


def values(**over):
    found = {"device-number": "1", "local-ipv4s": "10.0.1.10",
             "subnet-ipv4-cidr-block": "10.0.1.0/24"}
    found.update(over)
    return {key: value for key, value in found.items() if value is not None}


@pytest.mark.parametrize("over, message", [
    ({"local-ipv4s": None}, f"local-ipv4s not (yet) available for {MAC}"),
    ({"subnet-ipv4-cidr-block": None}, f"subnet-ipv4-cidr-block not (yet) available for {MAC}"),
    ({"ipv6s": "2600:1f18::10"}, f"subnet-ipv6-cidr-blocks not (yet) available for {MAC}"),
    ({"network-card": "one"}, "invalid network-card 'one'"),
    ({"network-card": "64"}, "network-card 64 is beyond the 64 cards the layout has"),
    ({"ipv4-prefix": "10.0.1.32/40"}, "invalid IPv4 delegated prefix '10.0.1.32/40'"),
    ({"ipv6-prefix": "2600::/200"}, "invalid IPv6 delegated prefix '2600::/200'"),
])
def test_ec2_errors_name_the_key_and_the_nic(over, message):
    with pytest.raises(MetadataError) as err:
        ec2.parse_interface(MAC, 0, values(**over))
    assert str(err.value) == message


def test_ec2_a_card_is_read_only_with_a_device_number():
    assert ec2.parse_interface(MAC, 3, values(**{"network-card": "2"})).card == 2
    assert ec2.parse_interface(MAC, 3, values(**{"network-card": "63"})).card == 63
    nic = ec2.parse_interface(MAC, 3, values(**{"network-card": "2", "device-number": None}))
    assert (nic.card, nic.index) == (0, 3)


def test_ec2_a_bad_device_number_is_warned_of_and_positions_are_the_indexes(caplog):
    results = {"a": {"device-number": "1"}, "b": {"device-number": "x"}}
    with caplog.at_level(logging.DEBUG, logger="nm_cloud_setup.providers.ec2"):
        ec2._choose_indexes(results)
    assert results == {"a": {"device-number": None}, "b": {"device-number": None}}
    assert [r.getMessage() for r in caplog.records] == [
        "get-config: ignoring invalid device-number 'x'",
        "get-config: device-number is not given for every NIC: the list positions are the "
        "table indexes, as upstream's"]


def test_ec2_indexes_of_the_fetched_nics_only_and_no_line_for_none(caplog):
    failed = MetadataError("local-ipv4s: HTTP 500")
    results = {"a": {"device-number": "4"}, "b": failed,
               "c": {"device-number": "x", "local-ipv4s": failed}}
    with caplog.at_level(logging.DEBUG, logger="nm_cloud_setup.providers.ec2"):
        ec2._choose_indexes(results)
        ec2._choose_indexes({})
    assert results == {"a": {"device-number": "4"}, "b": failed,
                       "c": {"device-number": "x", "local-ipv4s": failed}}
    assert caplog.records == []


def test_ec2_an_address_outside_the_subnet_is_warned_of_with_its_nic(caplog):
    ec2.parse_interface(MAC, 0, values(**{"local-ipv4s": "10.0.1.10\n10.0.2.10"}))
    assert [r.getMessage() for r in caplog.records] == [
        f"get-config: {MAC}: address 10.0.2.10 is outside the NIC's subnet 10.0.1.0/24; adding "
        "it with the subnet's prefix, as upstream does"]
