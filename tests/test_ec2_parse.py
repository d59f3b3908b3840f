"""EC2 response parsers: recorded shapes and malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.providers.base import Listed
from nm_cloud_setup.providers.base import parse_mac_listing as parse_mac_list
from nm_cloud_setup.providers.ec2 import parse_interface

MAC = "0A:1B:2C:3D:4E:5F"


def test_mac_list():
    assert parse_mac_list("0a:1b:2c:3d:4e:5f/\n02:00:00:00:00:02/\n") == [
        Listed(0, MAC, "0a:1b:2c:3d:4e:5f/"), Listed(1, "02:00:00:00:00:02", "02:00:00:00:00:02/")]


def test_mac_list_is_read_as_upstream_reads_it(caplog):
    """Lines that are no MAC are skipped (and logged); positions count the valid lines;
    a MAC listed twice is kept twice (the provider then leaves that NIC alone)."""
    listed = parse_mac_list("junk\n0a:1b:2c:3d:4e:5f\n\n0A-1B-2C-3D-4E-5F/\n02:00:00:00:00:02/\n")
    assert [(n.position, n.mac, n.path) for n in listed] == [
        (0, MAC, "0a:1b:2c:3d:4e:5f"), (1, MAC, "0A-1B-2C-3D-4E-5F/"),
        (2, "02:00:00:00:00:02", "02:00:00:00:00:02/")]
    assert "ignoring invalid MAC address 'junk'" in caplog.text


@pytest.mark.parametrize("body, message", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("not-a-mac/\n", "no valid MAC"),
    ("<html>oops</html>", "no valid MAC"),
])
def test_bad_mac_lists(body, message):
    with pytest.raises(MetadataError, match=message):
        parse_mac_list(body)


def good(**over):
    values = {"device-number": "1", "local-ipv4s": "10.0.1.10\n10.0.1.11",
              "subnet-ipv4-cidr-block": "10.0.1.0/24"}
    values.update(over)
    return values


def test_interface():
    data = parse_interface(MAC, 5, good())
    assert (data.index, data.addresses, data.subnet) == (1, ("10.0.1.10", "10.0.1.11"),
                                                         "10.0.1.0/24")


def test_missing_device_number_uses_listing_position():
    assert parse_interface(MAC, 5, good(**{"device-number": None})).index == 5


def test_duplicate_addresses_are_dropped_primary_first():
    data = parse_interface(MAC, 0, good(**{"local-ipv4s": "10.0.1.11\n10.0.1.10\n10.0.1.11\n"}))
    assert data.addresses == ("10.0.1.11", "10.0.1.10")


@pytest.mark.parametrize("key, body, message", [
    ("local-ipv4s", "", "empty address list"),
    ("local-ipv4s", "10.0.1.300", "invalid IPv4 address '10.0.1.300'"),
    ("local-ipv4s", "fe80::1", "invalid IPv4 address"),
    ("local-ipv4s", "0.0.0.0", "cannot be assigned"),
    ("local-ipv4s", "127.0.0.1", "cannot be assigned"),
    ("local-ipv4s", "224.0.0.5", "cannot be assigned"),
    ("local-ipv4s", "169.254.169.254", "cannot be assigned"),
    ("local-ipv4s", "\n".join(f"10.0.{i // 250}.{i % 250 + 1}" for i in range(2000)),
     "more than 1024"),
    ("local-ipv4s", None, "local-ipv4s not \\(yet\\) available"),
    ("subnet-ipv4-cidr-block", "10.0.1.0/33", "invalid IPv4 subnet"),
    ("subnet-ipv4-cidr-block", "10.0.1.0/0", "no usable prefix"),
    ("subnet-ipv4-cidr-block", "10.0.1.0", "no usable prefix"),
    ("subnet-ipv4-cidr-block", "0.0.0.0/0", "no usable prefix"),
    ("subnet-ipv4-cidr-block", "garbage", "invalid IPv4 subnet"),
    ("subnet-ipv4-cidr-block", None, "not \\(yet\\) available"),
    ("device-number", "-1", "invalid device-number"),
    ("device-number", "one", "invalid device-number"),
    ("device-number", "99999999", "invalid device-number"),
])
def test_bad_interface_values(key, body, message):
    with pytest.raises(MetadataError, match=message):
        parse_interface(MAC, 0, good(**{key: body}))


def test_address_outside_the_subnet_is_kept_with_the_subnet_prefix(caplog):
    """As upstream: 172.31.176.249 on a NIC whose block is 172.31.160.0/20 is added (as
    /20); a warning says so."""
    data = parse_interface(MAC, 0, good(**{"local-ipv4s": "172.31.160.10\n172.31.176.249",
                                            "subnet-ipv4-cidr-block": "172.31.160.0/20"}))
    assert data.addresses == ("172.31.160.10", "172.31.176.249") and data.valid
    assert "address 172.31.176.249 is outside the NIC's subnet 172.31.160.0/20" in caplog.text


@given(st.text(max_size=300))
def test_arbitrary_mac_list_raises_only_metadata_error(body):
    try:
        parse_mac_list(body)
    except CloudSetupError:
        pass


@given(st.text(max_size=200), st.text(max_size=60), st.text(max_size=10))
def test_arbitrary_interface_raises_only_metadata_error(ips, subnet, number):
    try:
        parse_interface(MAC, 0, {"local-ipv4s": ips, "subnet-ipv4-cidr-block": subnet,
                                 "device-number": number})
    except CloudSetupError:
        pass
