"""The MAC listing (providers/listing.py), read as upstream reads it: recorded shapes, lines
that are no MAC, malformed and arbitrary input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.providers.listing import Listed
from nm_cloud_setup.providers.listing import parse_mac_listing as parse_mac_list
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
