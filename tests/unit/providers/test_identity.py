"""The identity parsers (``status``): documented keys, missing ones, arbitrary input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import Identity, NicIdentity
from nm_cloud_setup.providers import identity
from tests.support.parsers import json_values

AZURE = {"compute": {"vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "vmSize": "Standard_D2s_v3",
                     "location": "westeurope", "zone": "1", "name": "vm1",
                     "osProfile": {"computerName": "web-1"}},
         "network": {"interface": [{"macAddress": "000D3A5D2D66",
                                    "ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4",
                                                            "publicIpAddress": "20.1.2.3"}]},
                                    "ipv6": {"ipAddress": [{"privateIpAddress": "fd00::4"}]}}]}}


def test_azure():
    found = identity.parse_azure(json.dumps(AZURE))
    assert (found.instance_id, found.instance_type, found.region, found.zone, found.hostname) == (
        "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "Standard_D2s_v3", "westeurope", "1", "web-1")
    assert found.nic("00:0D:3A:5D:2D:66").public_ipv4 == ("20.1.2.3",)
    nameless = json.loads(json.dumps(AZURE))
    del nameless["compute"]["osProfile"]
    assert identity.parse_azure(json.dumps(nameless)).hostname == "vm1"


def test_gcp_region_from_the_zone():
    nics = json.dumps([{"mac": "42:01:0a:80:00:02",
                        "accessConfigs": [{"externalIp": "34.1.2.3", "type": "ONE_TO_ONE_NAT"}],
                        "ipv6AccessConfigs": [{"externalIpv6": "2600:1900::1"}]}])
    found = identity.parse_gcp({"id": "4520031799277581759", "hostname": "vm-1.c.p.internal",
                                "machine-type": "projects/123/machineTypes/e2-medium",
                                "zone": "projects/123/zones/europe-west1-b"}, nics)
    assert (found.instance_type, found.region, found.zone) == ("e2-medium", "europe-west1",
                                                               "europe-west1-b")
    assert found.nic("42:01:0A:80:00:02").public_ipv6 == ("2600:1900::1",)
    assert identity.parse_gcp({}, "").region is None  # nothing known, nothing guessed


def test_oci_and_openstack():
    oci = identity.parse_oci(json.dumps({
        "id": "ocid1.instance.oc1..x", "shape": "VM.Standard3.Flex", "region": "phx",
        "availabilityDomain": "Uocm:PHX-AD-1", "hostname": "h"}))
    assert (oci.region, oci.zone, oci.instance_type) == ("phx", "Uocm:PHX-AD-1",
                                                          "VM.Standard3.Flex")
    openstack = identity.parse_openstack(json.dumps({"uuid": "u-1", "name": "n",
                                                     "availability_zone": "nova"}))
    assert (openstack.instance_id, openstack.hostname, openstack.zone) == ("u-1", "n", "nova")


def test_azure_public_addresses_of_each_family_and_odd_interfaces():
    """Each family's public addresses; an interface that is no object, or has no MAC, is
    passed over; an interface list that is no list is no interface."""
    doc = json.loads(json.dumps(AZURE))
    nic = doc["network"]["interface"][0]
    nic["ipv6"]["ipAddress"][0]["publicIpAddress"] = "2603:1020::5"
    doc["network"]["interface"] += ["000D3A5D2D67", {"ipv4": nic["ipv4"]}]
    assert identity.parse_azure(json.dumps(doc)).nics == (
        NicIdentity("00:0D:3A:5D:2D:66", ("20.1.2.3",), ("2603:1020::5",)),)
    doc["network"]["interface"] = 5
    assert identity.parse_azure(json.dumps(doc)).nics == ()


def test_gcp_nics_without_access_configs_and_odd_entries():
    nics = json.dumps([{"mac": "42:01:0a:80:00:02", "accessConfigs": {"externalIp": "34.1.2.3"},
                        "ipv6AccessConfigs": 7}, "42:01:0a:80:00:03", {"accessConfigs": []}])
    assert identity.parse_gcp({}, nics).nics == (NicIdentity("42:01:0A:80:00:02"),)


def test_oci_region_is_the_canonical_name_else_the_short_one():
    doc = {"id": "ocid1.instance.oc1..x", "shape": "VM.Standard3.Flex", "region": "phx",
           "canonicalRegionName": "us-phoenix-1", "availabilityDomain": "Uocm:PHX-AD-1",
           "hostname": "h"}
    assert identity.parse_oci(json.dumps(doc)) == Identity(
        "ocid1.instance.oc1..x", "VM.Standard3.Flex", "us-phoenix-1", "Uocm:PHX-AD-1", "h")
    del doc["canonicalRegionName"]
    assert identity.parse_oci(json.dumps(doc)).region == "phx"


def test_openstack_hostname_before_name():
    found = identity.parse_openstack(json.dumps({"uuid": "u-1", "hostname": "web-1.novalocal",
                                                 "name": "web-1"}))
    assert found == Identity(instance_id="u-1", hostname="web-1.novalocal")


NOT_JSON = "is not valid JSON (Expecting value: line 1 column 1 (char 0))"


@pytest.mark.parametrize("parse, body, message", [
    (identity.parse_azure, "{}", "the Azure instance document has no 'compute' object"),
    (identity.parse_azure, "<html>", f"the Azure instance document {NOT_JSON}"),
    (lambda text: identity.parse_gcp({}, text), "<html>",
     f"the GCP network-interfaces document {NOT_JSON}"),
    (identity.parse_oci, "[1]", "the OCI instance document is not a JSON object"),
    (identity.parse_oci, "<html>", f"the OCI instance document {NOT_JSON}"),
    (identity.parse_openstack, '"x"', "meta_data.json is not a JSON object"),
    (identity.parse_openstack, "<html>", f"meta_data.json {NOT_JSON}"),
])
def test_bad_documents(parse, body, message):
    with pytest.raises(MetadataError) as raised:
        parse(body)
    assert str(raised.value) == message


@settings(max_examples=300, deadline=None)
@given(body=st.text(max_size=200) | json_values.map(json.dumps))
def test_arbitrary_bodies_raise_only_project_errors(body):
    for parse in (identity.parse_azure, identity.parse_oci, identity.parse_openstack,
                  lambda text: identity.parse_gcp({"zone": text, "machine-type": text}, text)):
        try:
            parse(body)
        except CloudSetupError:
            pass
