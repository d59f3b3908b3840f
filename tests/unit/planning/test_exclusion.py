"""NM_CLOUD_SETUP_EXCLUDE: which NICs a run leaves alone, and selectors that are refused."""

from __future__ import annotations

import pytest

from nm_cloud_setup.model import InterfaceData
from nm_cloud_setup.planning import exclusion


def test_every_kind_of_selector_is_read():
    found, errors = exclusion.parse("02-00-00-00-00-03, eth9 cni*  index:2 device-number:4 "
                                    "id:eni-0123 name:ens5")
    assert errors == []
    assert found.macs == {"02:00:00:00:00:03"}
    assert found.names == ("eth9", "cni*", "ens5")
    assert found.indexes == {2, 4} and found.ids == {"eni-0123"}


def test_an_index_range_names_each_index_in_it():
    found, errors = exclusion.parse("index:1-14,index:20-20")
    assert errors == [] and found.indexes == set(range(1, 15)) | {20}


@pytest.mark.parametrize("raw", ["index:two", "index:", "colour:blue", "id:", "index:²",
                                 "index:5-2", "index:1-", "index:-3", "index:0-1024",
                                 "index:1-2-3"])
def test_a_selector_that_cannot_be_read_is_refused(raw):
    _, errors = exclusion.parse(raw)
    assert errors and raw in errors[0]


def test_nothing_set_excludes_nothing():
    found, errors = exclusion.parse(None)
    assert not found and errors == []
    assert found.of_device("02:00:00:00:00:01", "eth1") is None


@pytest.mark.parametrize("mac, ifname, reason", [
    ("02:00:00:00:00:03", "eth3", "NM_CLOUD_SETUP_EXCLUDE names its MAC"),
    ("02:00:00:00:00:04", "cni0", 'NM_CLOUD_SETUP_EXCLUDE names it ("cni*")'),
    ("02:00:00:00:00:05", "eth5", None),
])
def test_a_device_is_left_alone_by_its_mac_or_its_name(mac, ifname, reason):
    found, _ = exclusion.parse("02:00:00:00:00:03 cni*")
    assert found.of_device(mac, ifname) == reason


def test_a_nic_is_left_alone_by_its_index_or_its_clouds_id():
    found, _ = exclusion.parse("index:2 id:eni-0123")
    assert found.of_nic(InterfaceData("02:00:00:00:00:03", 2)) == \
        "NM_CLOUD_SETUP_EXCLUDE names its index 2"
    assert found.of_nic(InterfaceData("02:00:00:00:00:04", 1, interface_id="eni-0123")) == \
        "NM_CLOUD_SETUP_EXCLUDE names its id eni-0123"
    assert found.of_nic(InterfaceData("02:00:00:00:00:05", 1, interface_id="eni-9")) is None


def test_index_bounds_and_an_id_with_a_colon():
    found, errors = exclusion.parse("index:1023 index:0 id:vnic:a1")
    assert errors == [] and found.indexes == {0, 1023} and found.ids == {"vnic:a1"}
    _, errors = exclusion.parse("index:01023")  # five digits: refused, whatever its value
    assert errors == ['NM_CLOUD_SETUP_EXCLUDE: "index:01023" is not index:N or index:N-M '
                      '(0 to 1023)']


@pytest.mark.parametrize("raw", ["eth9", "index:3", "id:eni-1", "02:00:00:00:00:03"])
def test_any_one_kind_of_selector_alone_excludes_something(raw):
    found, errors = exclusion.parse(raw)
    assert errors == [] and found
