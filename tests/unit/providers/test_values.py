"""The validators the parsers share (providers/values.py, providers/ipv6.py) at their
bounds: the last value taken and the first refused, host bits cleared, and the words of
each error whole (they are what an administrator reads in the log)."""

from __future__ import annotations

import pytest

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.providers import ipv6, values


def error_of(call, *args):
    with pytest.raises(MetadataError) as caught:
        call(*args)
    return str(caught.value)


# -- IPv4 ------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (" 10.0.0.5 ", "10.0.0.5"), (7, "7"), ("x" * 300, "x" * 255),
    ("", None), ("  ", None), (None, None), (True, None), (False, None), ([1], None),
    (1.5, None),
])
def test_text_or_none(value, expected):
    assert values.text_or_none(value) == expected


def test_field_takes_its_kind_and_names_what_is_wrong():
    assert values.field({"a": 1}, "a", int, "nic") == 1
    assert values.field({"a": True}, "a", bool, "nic") is True
    assert error_of(values.field, {"a": True}, "a", int, "nic") == (
        "nic: 'a' is missing or not a int")
    assert error_of(values.field, {}, "a", str, "route") == (
        "route: 'a' is missing or not a str")
    assert error_of(values.field, ["a"], "a", str, "the route") == (
        "the route is not a JSON object")


@pytest.mark.parametrize("text, prefix", [("128.0.0.0", 1), ("255.255.255.255", 32),
                                           (" 255.255.255.0\n", 24)])
def test_netmask_prefixes_1_to_32(text, prefix):
    assert values.parse_netmask(text) == prefix


@pytest.mark.parametrize("text, message", [
    ("0.0.0.0", "IPv4 netmask '0.0.0.0' has no usable prefix length (1..32)"),
    ("255.0.255.0", "invalid IPv4 netmask '255.0.255.0'"),
])
def test_bad_netmasks(text, message):
    assert error_of(values.parse_netmask, text) == message


@pytest.mark.parametrize("text, expected", [
    ("10.1.2.3/8", "10.0.0.0/8"), ("35.1.1.1", "35.1.1.1/32"), ("35.1.1.7/31", "35.1.1.6/31"),
])
def test_cidrs_clear_host_bits_down_to_slash_8(text, expected):
    assert values.parse_cidr(text) == expected


@pytest.mark.parametrize("text, message", [
    ("10.0.0.0/7", "IPv4 range 10.0.0.0/7 cannot be delivered to a NIC"),
    ("35.1.1.1/33", "invalid IPv4 range '35.1.1.1/33'"),
])
def test_bad_cidrs_name_a_range_by_default(text, message):
    assert error_of(values.parse_cidr, text) == message


@pytest.mark.parametrize("text, expected", [("10.1.2.3/1", "0.0.0.0/1"),
                                            ("10.1.2.3/32", "10.1.2.3/32"),
                                            ("10.1.2.3/24", "10.1.2.0/24")])
def test_subnets_prefixes_1_to_32_host_bits_cleared(text, expected):
    assert values.parse_subnet(text) == expected


@pytest.mark.parametrize("text, message", [
    ("10.0.0.0/0", "IPv4 subnet '10.0.0.0/0' has no usable prefix length (1..32)"),
    ("10.0.0.0", "IPv4 subnet '10.0.0.0' has no usable prefix length (1..32)"),
    ("10.0.0.0/33", "invalid IPv4 subnet '10.0.0.0/33'"),
])
def test_bad_subnets(text, message):
    assert error_of(values.parse_subnet, text) == message


def test_address_lists_up_to_the_limit_and_what_each_is():
    many = "\n".join(f"10.{n // 250}.{n % 250}.1" for n in range(values.MAX_ADDRESSES_PER_NIC))
    assert len(values.parse_ipv4_list(many)) == values.MAX_ADDRESSES_PER_NIC
    assert error_of(values.parse_ipv4_list, many + "\n10.9.9.9") == (
        "1025 addresses for one NIC (more than 1024): refusing")
    assert error_of(values.parse_ipv4_list, "10.0.0.1\nx", "secondary address") == (
        "invalid IPv4 secondary address 'x'")


@pytest.mark.parametrize("value, ipv6, expected", [
    (576, False, 576), (65535, False, 65535), ("1500", False, 1500), (1280, True, 1280),
    (None, False, None),
])
def test_mtus_at_their_bounds(value, ipv6, expected):
    assert values.parse_mtu(value, ipv6) == expected
    assert values.parse_mtu(1000) == 1000  # IPv4's bound unless told the NIC has IPv6


@pytest.mark.parametrize("value, ipv6, message", [
    (575, False, "invalid MTU 575: it must be 576 to 65535"),
    (65536, False, "invalid MTU 65536: it must be 576 to 65535"),
    (1279, True, "invalid MTU 1279: with IPv6 it must be 1280 to 65535"),
    ("jumbo", False, "invalid MTU 'jumbo': not a number"),
    ("", False, "invalid MTU '': not a number"),
])
def test_bad_mtus(value, ipv6, message):
    assert error_of(values.parse_mtu, value, ipv6) == message


# -- IPv6 ------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("::", "IPv6 address :: cannot be assigned to a NIC"),
    ("::1", "IPv6 address ::1 cannot be assigned to a NIC"),
    ("ff02::1", "IPv6 address ff02::1 cannot be assigned to a NIC"),
    ("fe80::1", "IPv6 address fe80::1 cannot be assigned to a NIC"),
    ("::ffff:10.0.0.1", "IPv6 address ::ffff:a00:1 cannot be assigned to a NIC"),
    ("10.0.0.1", "10.0.0.1 is an IPv4 address where an IPv6 address belongs"),
    ("x" * 70, "invalid IPv6 address '" + "x" * 60 + "...'"),
    (7, "IPv6 address 7 is not a string"),
])
def test_addresses_no_nic_can_hold(text, message):
    assert error_of(ipv6.parse_ipv6, text) == message


@pytest.mark.parametrize("text", ["::", "::1", "ff02::2"])
def test_gateways_no_router_can_be(text):
    assert error_of(ipv6.parse_gateway6, text) == f"IPv6 gateway {text} cannot be a router"
    assert ipv6.parse_gateway6("fe80::1") == "fe80::1"


@pytest.mark.parametrize("text, expected", [("2600::1/1", "::/1"),
                                            ("2600::5/127", "2600::4/127"),
                                            ("2600:1f18::7/64", "2600:1f18::/64")])
def test_subnets6_prefixes_1_to_127_host_bits_cleared(text, expected):
    assert ipv6.parse_subnet6(text) == expected


@pytest.mark.parametrize("text, message", [
    ("2600::/128", "IPv6 subnet '2600::/128' has no usable prefix length (1..127)"),
    ("2600::/0", "IPv6 subnet '2600::/0' has no usable prefix length (1..127)"),
    ("10.0.0.1/24", "10.0.0.1/24 is an IPv4 subnet where an IPv6 one belongs"),
    (64, "IPv6 subnet 64 is not a string"),
])
def test_bad_subnets6(text, message):
    assert error_of(ipv6.parse_subnet6, text) == message


def test_subnet6_of_clears_host_bits():
    assert ipv6.subnet6_of("2600:1f18::7", 64) == "2600:1f18::/64"


@pytest.mark.parametrize("value, prefix", [
    (1, 1), ("127", 127), (" 64 ", 64), ("ffff:ffff:ffff:ffff::", 64), ("8000::", 1),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 127),
])
def test_prefixes6(value, prefix):
    assert ipv6.parse_prefix6(value) == prefix


@pytest.mark.parametrize("value, message", [
    (True, "invalid IPv6 prefix length True"),
    (0, "IPv6 prefix length 0 is not usable (1..127)"),
    ("128", "IPv6 prefix length 128 is not usable (1..127)"),
    ("ffff:0:ffff::", "invalid IPv6 prefix length or netmask 'ffff:0:ffff::'"),
    ("::1", "invalid IPv6 prefix length or netmask '::1'"),
    ("::", "IPv6 prefix length 0 is not usable (1..127)"),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "IPv6 prefix length 128 is not usable (1..127)"),
    ("/64", "invalid IPv6 prefix length or netmask '/64'"),
])
def test_bad_prefixes6(value, message):
    assert error_of(ipv6.parse_prefix6, value) == message


@pytest.mark.parametrize("text, expected", [
    ("2600::1", "2600::1/128"), ("2600:1f18::7/16", "2600::/16"),
])
def test_ranges6_clear_host_bits_down_to_slash_16(text, expected):
    assert ipv6.parse_cidr6(text) == expected


@pytest.mark.parametrize("text, message", [
    ("2600::/15", "IPv6 range 2600::/15 cannot be delivered to a NIC"),
    ("::1", "IPv6 range ::1/128 cannot be delivered to a NIC"),
    ("ff02::/16", "IPv6 range ff02::/16 cannot be delivered to a NIC"),
    ("fe80::/64", "IPv6 range fe80::/64 cannot be delivered to a NIC"),
    ("10.1.2.3/24", "10.1.2.3/24 is IPv4 where an IPv6 range belongs"),
    ("2600::/129", "invalid IPv6 range '2600::/129'"),
    (None, "IPv6 range None is not a string"),
])
def test_bad_ranges6(text, message):
    assert error_of(ipv6.parse_cidr6, text) == message


def test_subnet_holding_the_first_address():
    blocks = ["2600:1::/64", "2600:2::/64"]
    assert ipv6.subnet_holding(["2600:2::5", "2600:2::6"], blocks) == "2600:2::/64"
    assert error_of(ipv6.subnet_holding, ["2600:2::5", "2600:1::6"], blocks) == (
        "IPv6 address 2600:1::6 is outside the NIC's subnet 2600:2::/64")
    assert error_of(ipv6.subnet_holding, ["2600:3::5"], blocks) == (
        "IPv6 address 2600:3::5 is outside the NIC's subnet 2600:1::/64")
    assert error_of(ipv6.subnet_holding, ["2600:3::5"], []) == "the IPv6 subnet list is empty"


@pytest.mark.parametrize("text, message", [
    ("0.0.0.0", "IPv4 address 0.0.0.0 cannot be assigned to a NIC"),
    ("127.0.0.2", "IPv4 address 127.0.0.2 cannot be assigned to a NIC"),
    ("224.0.0.1", "IPv4 address 224.0.0.1 cannot be assigned to a NIC"),
    ("169.254.1.1", "IPv4 address 169.254.1.1 cannot be assigned to a NIC"),
    ("240.0.0.1", "IPv4 address 240.0.0.1 cannot be assigned to a NIC"),
    ("10.0.0.256", "invalid IPv4 address '10.0.0.256'"),
])
def test_addresses_no_nic_can_hold_named_addresses_by_default(text, message):
    assert error_of(values.parse_ipv4, text) == message
    assert values.parse_ipv4(" 10.0.0.5\n") == "10.0.0.5"


def test_json_that_does_not_parse_names_what_it_is():
    assert error_of(values.parse_json, "{", "the document") == (
        "the document is not valid JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))")


def test_addresses_outside_the_subnet_are_said_one_by_one(caplog):
    values.warn_outside_subnet("02:00:00:00:00:01", ["10.0.0.5", "10.0.1.5", "10.0.2.5"],
                               "10.0.0.0/24")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"get-config: 02:00:00:00:00:01: address 10.0.{n}.5 is outside the NIC's "
         "subnet 10.0.0.0/24; adding it with the subnet's prefix, as upstream does")
        for n in (1, 2)]


def test_indexes_up_to_65535_named_device_number_by_default():
    assert values.parse_index(" 65535\n") == 65535 and values.parse_index("0") == 0
    assert error_of(values.parse_index, "65536") == "invalid device-number '65536'"
    assert error_of(values.parse_index, "-1", "network-card") == "invalid network-card '-1'"


def test_quote_shows_60_characters_whole_and_cuts_the_61st():
    assert values.quote("x" * 60) == repr("x" * 60)
    assert values.quote("x" * 61) == repr("x" * 60 + "...")
    assert values.quote("abc", 2) == repr("ab...")


@pytest.mark.parametrize("items, expected", [
    ('["2600::1", "2600::2"]', ("2600::1", "2600::2")),
    ("2600::1, 2600::2,2600::1", ("2600::1", "2600::2")),
    (" 2600::1\n\n2600::2\n", ("2600::1", "2600::2")),
    (["2600::2", " 2600::1 "], ("2600::2", "2600::1")),
    ("", ()), ("[]", ()), ([], ()),
])
def test_ipv6_lists_in_every_form_a_cloud_gives(items, expected):
    assert ipv6.parse_ipv6_list(items) == expected


def test_bad_ipv6_lists():
    limit = values.MAX_ADDRESSES_PER_NIC
    many = [f"2600::{n:x}" for n in range(1, limit + 1)]
    assert len(ipv6.parse_ipv6_list(many)) == limit
    assert error_of(ipv6.parse_ipv6_list, many + ["2600::ffff"]) == (
        "1025 IPv6 addresses for one NIC (more than 1024): refusing")
    assert error_of(ipv6.parse_ipv6_list, {"a": 1}) == "the IPv6 address list is not a list"
    assert error_of(ipv6.parse_ipv6_list, 7, "secondary") == (
        "the IPv6 secondary list is not a list")
    assert error_of(ipv6.parse_ipv6_list, ["2600::1", "x"], "secondary") == (
        "invalid IPv6 secondary 'x'")


def test_a_nics_ipv6_values_need_a_subnet_and_may_go_without_a_gateway():
    assert ipv6.ipv6_part(["2600::5"], "2600::/64", None, "subnet") == (
        ("2600::5",), "2600::/64", None)
    assert ipv6.ipv6_part(["2600::5"], "2600::/64", "fe80::1", "subnet") == (
        ("2600::5",), "2600::/64", "fe80::1")
    assert ipv6.ipv6_part([], None, "x", "subnet") == ((), None, None)
    assert error_of(ipv6.ipv6_part, ["2600::5"], None, None, "ipv6-subnet") == (
        "ipv6-subnet is missing")
