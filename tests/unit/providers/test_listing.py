"""The MAC listing (providers/listing.py), read as upstream reads it: recorded shapes, lines
that are no MAC, malformed and arbitrary input."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import InterfaceData
from nm_cloud_setup.providers.listing import Listed, check_indexes, checked, listed_nics
from nm_cloud_setup.providers.listing import parse_mac_listing as parse_mac_list
from nm_cloud_setup.providers.listing import per_mac_interfaces, walk_numbers
from tests.support.parsers import MAC


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


@given(st.text(max_size=300))
def test_arbitrary_mac_list_raises_only_metadata_error(body):
    try:
        parse_mac_list(body)
    except CloudSetupError:
        pass


def test_bad_mac_lists_words_whole(caplog):
    with pytest.raises(MetadataError) as empty:
        parse_mac_list(" \n")
    with pytest.raises(MetadataError) as invalid:
        parse_mac_list("x" * 50 + "\n")
    assert str(empty.value) == "the interface list is empty"
    assert str(invalid.value) == "the interface list holds no valid MAC address"
    # the bad line is quoted, cut at 40 characters
    assert [r.getMessage() for r in caplog.records] == [
        "get-config: ignoring invalid MAC address '" + "x" * 40
        + "...' in the interface list"]


# -- the numbered listings of Azure and GCP: upstream's lines, each NIC by its number ----

@pytest.mark.parametrize("name, prefix", [("GCP", "GCP "), ("Azure", "")])
def test_listed_nics_by_the_services_numbers_with_upstreams_lines(name, prefix, caplog):
    texts = ["02:00:00:00:00:01", "bogus", "02-00-00-00-00-01", "02:00:00:00:00:02"]
    with caplog.at_level(logging.DEBUG, logger="nm_cloud_setup.providers.listing"):
        found = listed_nics(name, texts, [0, 3, 5, 10])
    assert found == [(0, "02:00:00:00:00:01"), (3, "02:00:00:00:00:02")]
    assert [r.getMessage() for r in caplog.records] == [
        f"{name} interface[0]: retrieving configuration",
        f"{name} interface[3]: retrieving configuration",
        f"{prefix}interface[3]: invalid MAC address returned",
        f"{name} interface[5]: retrieving configuration",
        f"{prefix}interface[5]: duplicate MAC address 02:00:00:00:00:01 returned",
        f"{name} interface[10]: retrieving configuration"]


def test_listed_nics_number_by_position_without_numbers(caplog):
    with caplog.at_level(logging.INFO, logger="nm_cloud_setup.providers.listing"):
        found = listed_nics("Azure", ["02:00:00:00:00:01", "02:00:00:00:00:01"])
    assert found == [(0, "02:00:00:00:00:01")]
    assert [r.getMessage() for r in caplog.records] == [
        "interface[1]: duplicate MAC address 02:00:00:00:00:01 returned"]


def test_walk_numbers_reads_every_digit():
    assert walk_numbers("0/\n10/\n 12 \nx/\n1a/\n٣/\n\n") == [0, 10, 12]


# -- one NIC per MAC: a duplicate or a failed key fails only that NIC, at its place -------

def test_per_mac_interfaces_fail_a_duplicate_and_a_failed_key_at_their_position():
    listed = parse_mac_list("02:00:00:00:00:09/\n02:00:00:00:00:01/\n02:00:00:00:00:02/\n"
                            "02:00:00:00:00:01/\n02:00:00:00:00:03/\n")
    macs = {"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2",
            "02:00:00:00:00:03": "eth3"}
    results = {"02:00:00:00:00:01": {}, "02:00:00:00:00:02": {"subnet": MetadataError("bad")},
               "02:00:00:00:00:03": {"ip": "10.0.0.5"}}
    got = per_mac_interfaces(listed, macs, results,
                             lambda index, mac, values: InterfaceData(mac, index))
    assert [(i.mac, i.index, i.error) for i in got] == [
        ("02:00:00:00:00:01", 1, "duplicate MAC address 02:00:00:00:00:01 in the interface list"),
        ("02:00:00:00:00:02", 2, "subnet: bad"),
        ("02:00:00:00:00:03", 4, None)]


@pytest.mark.parametrize("card, words", [(0, ""), (2, " on network card 2")])
def test_check_indexes_names_the_owner_and_the_card(card, words):
    first = InterfaceData("02:00:00:00:00:01", 1, card=card, addresses=("10.0.0.5",))
    second = InterfaceData("02:00:00:00:00:02", 1, card=card, addresses=("10.0.0.6",))
    other_card = InterfaceData("02:00:00:00:00:03", 1, card=card + 1)
    failed = InterfaceData("02:00:00:00:00:04", 1, card=card, error="x")
    kept, moved, third, fourth = check_indexes([first, second, other_card, failed])
    assert kept == first and third == other_card and fourth == failed
    assert (moved.mac, moved.index, moved.card, moved.addresses, moved.error) == (
        "02:00:00:00:00:02", 1, card, (),
        f"index 1{words} is also that of 02:00:00:00:00:01: leaving this NIC as it is until "
        "the metadata settles")


def test_a_nic_whose_values_do_not_parse_fails_alone_at_its_position():
    def parse(index, mac, values):
        if "bad" in values:
            raise MetadataError("invalid IPv4 address 'x'")
        return InterfaceData(mac, index, addresses=("10.0.0.5",))

    listed = parse_mac_list("02:00:00:00:00:09/\n02:00:00:00:00:01/\n02:00:00:00:00:02/\n")
    macs = {"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"}
    results = {"02:00:00:00:00:01": {"bad": "x"}, "02:00:00:00:00:02": {}}
    failed, good = per_mac_interfaces(listed, macs, results, parse)
    assert failed == InterfaceData("02:00:00:00:00:01", 1, error="invalid IPv4 address 'x'")
    assert good == InterfaceData("02:00:00:00:00:02", 2, addresses=("10.0.0.5",))
    # other errors are not the NIC's: they go up
    with pytest.raises(ValueError):
        checked("02:00:00:00:00:01", 1, lambda: int("x"))
