"""DigitalOcean (providers/digitalocean.py): the public NIC with its anchor and IPv6, the
private one, optional keys, a bad NIC failing alone, bad documents, the identity."""

from __future__ import annotations

import json

import pytest

from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import Network
from nm_cloud_setup.providers import digitalocean
from tests.support.parsers import DO_MACS, do_doc, sample


def test_digitalocean_public_nic_with_anchor_and_ipv6_and_a_private_nic():
    public, private = digitalocean.parse_interfaces(sample("digitalocean_metadata.json"), DO_MACS)
    assert (public.index, public.addresses, public.subnet, public.gateway) == (
        0, ("203.0.113.20",), "203.0.113.0/24", "203.0.113.1")
    assert public.extra_networks == (Network("10.18.0.0/16", ("10.18.0.5",), "10.18.0.1"),)
    assert (public.ipv6_addresses, public.ipv6_subnet, public.ipv6_gateway) == (
        ("2001:db8:800:10::17d:2001",), "2001:db8:800:10::/64", "2001:db8:800:10::1")
    assert (private.index, private.addresses, private.subnet, private.gateway) == (
        1, ("10.110.0.2",), "10.110.0.0/20", "10.110.0.1")
    assert private.extra_networks == () and private.ipv6_addresses == ()


def test_digitalocean_document_as_the_openapi_schema_has_it_a_one_element_array():
    body = json.dumps([do_doc()])
    assert len(digitalocean.parse_interfaces(body, DO_MACS)) == 2


def test_digitalocean_only_local_nics_and_optional_keys():
    doc = do_doc()
    public = doc["interfaces"]["public"][0]
    del public["anchor_ipv4"], public["ipv6"], doc["interfaces"]["private"]
    public["ipv4"]["gateway"] = "0.0.0.0"
    (nic,) = digitalocean.parse_interfaces(json.dumps(doc), DO_MACS)
    assert nic.extra_networks == () and nic.gateway is None and nic.error is None
    assert digitalocean.parse_interfaces(json.dumps(doc), {"02:00:00:00:00:09": "eth9"}) == []


@pytest.mark.parametrize("change, message", [
    (lambda p: p["ipv4"].update(ip_address="203.0.113.300"), "invalid IPv4 address"),
    (lambda p: p["ipv4"].update(netmask="255.0.255.0"), "invalid IPv4 netmask"),
    (lambda p: p["ipv4"].pop("netmask"), "'netmask' is missing"),
    (lambda p: p["ipv4"].update(gateway="198.51.100.1"), "outside 203.0.113.0/24"),
    (lambda p: p.update(ipv4="203.0.113.20"), "'ipv4' is missing or not a dict"),
    (lambda p: p["anchor_ipv4"].update(ip_address=5), "'ip_address' is missing"),
    (lambda p: p["anchor_ipv4"].update(ip_address="203.0.113.21", netmask="255.255.255.0",
                                       gateway="203.0.113.1"), "in the NIC's own subnet"),
    (lambda p: p["anchor_ipv4"].update(gateway="10.19.0.1"), "outside 10.18.0.0/16"),
    (lambda p: p["ipv6"].update(cidr=129), "invalid 'cidr'"),
    (lambda p: p["ipv6"].update(cidr=True), "invalid 'cidr'"),
    (lambda p: p["ipv6"].update(ip_address="203.0.113.20"), "ipv6: invalid address"),
    (lambda p: p["ipv6"].update(ip_address="ff02::1"), "cannot be assigned"),
])
def test_digitalocean_a_bad_nic_fails_alone_and_names_the_value(change, message):
    doc = do_doc()
    change(doc["interfaces"]["public"][0])
    public, private = digitalocean.parse_interfaces(json.dumps(doc), DO_MACS)
    assert public.error is not None and message in public.error, public.error
    assert public.addresses == () and public.extra_networks == ()  # nothing half-taken
    assert private.error is None and private.addresses == ("10.110.0.2",)


@pytest.mark.parametrize("body, message", [
    ("<html>", "not valid JSON"),
    ("{}", "no 'interfaces' object"),
    ("[]", "no 'interfaces' object"),
    ('{"interfaces": {"public": {}}}', "interfaces.public is not a list"),
])
def test_digitalocean_bad_documents_raise(body, message):
    with pytest.raises(MetadataError, match=message):
        digitalocean.parse_interfaces(body, DO_MACS)


def test_digitalocean_duplicate_mac_is_not_guessed_at():
    doc = do_doc()
    doc["interfaces"]["private"][0]["mac"] = "FA-16-3E-00-00-01"
    (nic,) = digitalocean.parse_interfaces(json.dumps(doc), DO_MACS)
    assert nic.index == 0


def test_digitalocean_identity():
    identity = digitalocean.parse_identity(sample("digitalocean_metadata.json"))
    assert (identity.instance_id, identity.hostname, identity.region) == ("2756294", "web-1",
                                                                          "ams3")
    assert identity.instance_type is None and identity.zone is None  # not in the metadata
    assert identity.public_ipv4 == ("198.51.100.7",)  # the active reserved IP
    (nic,) = identity.nics
    assert (nic.mac, nic.public_ipv4, nic.public_ipv6) == (
        "FA:16:3E:00:00:01", ("203.0.113.20",), ("2001:db8:800:10::17d:2001",))
