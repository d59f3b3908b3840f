"""DigitalOcean (providers/digitalocean.py): the public NIC with its anchor and IPv6, the
private one, optional keys, a bad NIC failing alone, bad documents, the identity, and a
run against the emulator (one request)."""

from __future__ import annotations

import json
import logging

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import MetadataError
from nm_cloud_setup.model import InstanceData, Network, NicIdentity
from nm_cloud_setup.providers import digitalocean
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from tests.support.parsers import DO_MACS, do_doc, sample

PUBLIC, PRIVATE = DO_MACS  # FA:16:3E:00:00:01, FA:16:3E:00:00:02


def test_digitalocean_public_nic_with_anchor_and_ipv6_and_a_private_nic():
    public, private = digitalocean.parse_interfaces(sample("digitalocean_metadata.json"), DO_MACS)
    assert (public.mac, public.index, public.addresses, public.subnet, public.gateway) == (
        PUBLIC, 0, ("203.0.113.20",), "203.0.113.0/24", "203.0.113.1")
    assert public.extra_networks == (Network("10.18.0.0/16", ("10.18.0.5",), "10.18.0.1"),)
    assert (public.ipv6_addresses, public.ipv6_subnet, public.ipv6_gateway) == (
        ("2001:db8:800:10::17d:2001",), "2001:db8:800:10::/64", "2001:db8:800:10::1")
    assert (private.mac, private.index, private.addresses, private.subnet, private.gateway) == (
        PRIVATE, 1, ("10.110.0.2",), "10.110.0.0/20", "10.110.0.1")
    assert private.extra_networks == () and private.ipv6_addresses == ()
    assert private.ipv6_subnet is None and private.ipv6_gateway is None


def test_digitalocean_document_as_the_openapi_schema_has_it_a_one_element_array():
    body = json.dumps([do_doc()])
    assert len(digitalocean.parse_interfaces(body, DO_MACS)) == 2


@pytest.mark.parametrize("gateway", ["0.0.0.0", "", None])
def test_digitalocean_only_local_nics_and_optional_keys(gateway):
    doc = do_doc()
    public = doc["interfaces"]["public"][0]
    del public["anchor_ipv4"], public["ipv6"], doc["interfaces"]["private"]
    public["ipv4"]["gateway"] = gateway
    (nic,) = digitalocean.parse_interfaces(json.dumps(doc), DO_MACS)
    assert (nic.addresses, nic.gateway, nic.extra_networks, nic.error) == (
        ("203.0.113.20",), None, (), None)
    assert (nic.ipv6_addresses, nic.ipv6_subnet, nic.ipv6_gateway) == ((), None, None)
    assert digitalocean.parse_interfaces(json.dumps(doc), {"02:00:00:00:00:09": "eth9"}) == []


@pytest.mark.parametrize("ipv6, subnet, gateway", [
    ({"cidr": "64"}, "2001:db8:800:10::/64", "2001:db8:800:10::1"),  # the prefix as text
    ({"cidr": 1}, "::/1", "2001:db8:800:10::1"),
    ({"cidr": 128}, "2001:db8:800:10::17d:2001/128", "2001:db8:800:10::1"),
    ({"gateway": None}, "2001:db8:800:10::/64", None),
    ({"gateway": " "}, "2001:db8:800:10::/64", None),
])
def test_digitalocean_ipv6_prefix_lengths_and_no_gateway(ipv6, subnet, gateway):
    doc = do_doc()
    doc["interfaces"]["public"][0]["ipv6"].update(ipv6)
    public, _ = digitalocean.parse_interfaces(json.dumps(doc), DO_MACS)
    assert (public.error, public.ipv6_addresses, public.ipv6_subnet, public.ipv6_gateway) == (
        None, ("2001:db8:800:10::17d:2001",), subnet, gateway)


LONG_V6 = "2001:db8::" + "0" * 70


@pytest.mark.parametrize("change, error", [
    (lambda p: p["ipv4"].update(ip_address="203.0.113.300"),
     "invalid IPv4 address '203.0.113.300'"),
    (lambda p: p["ipv4"].update(netmask="255.0.255.0"), "invalid IPv4 netmask '255.0.255.0'"),
    (lambda p: p["ipv4"].pop("netmask"), "ipv4: 'netmask' is missing or not a str"),
    (lambda p: p["ipv4"].pop("ip_address"), "ipv4: 'ip_address' is missing or not a str"),
    (lambda p: p["ipv4"].update(gateway="198.51.100.1"),
     "ipv4: gateway 198.51.100.1 is outside 203.0.113.0/24"),
    (lambda p: p["ipv4"].update(gateway=7), "ipv4: 'gateway' is not a string"),
    (lambda p: p["ipv4"].update(gateway="x"), "invalid IPv4 gateway 'x'"),
    (lambda p: p.update(ipv4="203.0.113.20"), "interface: 'ipv4' is missing or not a dict"),
    (lambda p: p["anchor_ipv4"].update(ip_address=5),
     "anchor_ipv4: 'ip_address' is missing or not a str"),
    (lambda p: p["anchor_ipv4"].pop("netmask"), "anchor_ipv4: 'netmask' is missing or not a str"),
    (lambda p: p["anchor_ipv4"].update(ip_address="203.0.113.21", netmask="255.255.255.0",
                                       gateway="203.0.113.1"),
     "anchor_ipv4 203.0.113.21 is in the NIC's own subnet 203.0.113.0/24"),
    (lambda p: p["anchor_ipv4"].update(gateway="10.19.0.1"),
     "anchor_ipv4: gateway 10.19.0.1 is outside 10.18.0.0/16"),
    (lambda p: p["ipv6"].update(cidr=129), "ipv6: invalid 'cidr' 129"),
    (lambda p: p["ipv6"].update(cidr=0), "ipv6: invalid 'cidr' 0"),
    (lambda p: p["ipv6"].update(cidr=True), "ipv6: invalid 'cidr' True"),
    (lambda p: p["ipv6"].pop("ip_address"), "ipv6: 'ip_address' is missing or not a str"),
    (lambda p: p["ipv6"].update(ip_address="203.0.113.20"),
     "ipv6: invalid address '203.0.113.20' or gateway"),
    (lambda p: p["ipv6"].update(ip_address=LONG_V6),
     f"ipv6: invalid address {LONG_V6[:60]!r} or gateway"),
    (lambda p: p["ipv6"].update(gateway="zz"),
     "ipv6: invalid address '2001:0DB8:0800:0010:0000:0000:017D:2001' or gateway"),
    (lambda p: p["ipv6"].update(ip_address="ff02::1"), "ipv6: ff02::1 cannot be assigned to a NIC"),
    (lambda p: p["ipv6"].update(ip_address="::1"), "ipv6: ::1 cannot be assigned to a NIC"),
    (lambda p: p["ipv6"].update(ip_address="::"), "ipv6: :: cannot be assigned to a NIC"),
])
def test_digitalocean_a_bad_nic_fails_alone_and_names_the_value(change, error):
    doc = do_doc()
    change(doc["interfaces"]["public"][0])
    public, private = digitalocean.parse_interfaces(json.dumps(doc), DO_MACS)
    assert (public.mac, public.index, public.error) == (PUBLIC, 0, error)
    assert public.addresses == () and public.extra_networks == ()  # nothing half-taken
    assert private.error is None and private.addresses == ("10.110.0.2",)


NOT_JSON = "the DigitalOcean metadata document is not valid JSON (Expecting value: line 1 " \
           "column 1 (char 0))"
NO_INTERFACES = "the DigitalOcean metadata document has no 'interfaces' object"


@pytest.mark.parametrize("body, message", [
    ("<html>", NOT_JSON),
    ("{}", NO_INTERFACES),
    ("[]", NO_INTERFACES),
    ('[{"interfaces": {}}, {"interfaces": {}}]', NO_INTERFACES),
    ('{"interfaces": []}', NO_INTERFACES),
    ('{"interfaces": {"public": {}}}', "interfaces.public is not a list"),
    ('{"interfaces": {"private": "x"}}', "interfaces.private is not a list"),
])
def test_digitalocean_bad_documents_raise(body, message):
    with pytest.raises(MetadataError) as caught:
        digitalocean.parse_interfaces(body, DO_MACS)
    assert str(caught.value) == message
    with pytest.raises(MetadataError) as caught:
        digitalocean.parse_identity(body)
    assert str(caught.value) == message


def test_digitalocean_bad_and_duplicate_macs_are_skipped_and_said(caplog):
    doc = do_doc()
    public = doc["interfaces"]["public"]
    public[:0] = [{**public[0], "mac": 5}, {**public[0], "mac": "x" * 50}]
    doc["interfaces"]["private"].append({**public[2], "mac": "FA-16-3E-00-00-01"})
    with caplog.at_level(logging.INFO, logger="nm_cloud_setup.providers.digitalocean"):
        nics = digitalocean.parse_interfaces(json.dumps(doc), DO_MACS)
    assert [(n.mac, n.index, n.error) for n in nics] == [(PUBLIC, 2, None), (PRIVATE, 3, None)]
    assert [r.getMessage() for r in caplog.records] == [
        "interface[0]: invalid or duplicate MAC address '' returned",
        f"interface[1]: invalid or duplicate MAC address {'x' * 40!r} returned",
        "interface[4]: invalid or duplicate MAC address 'FA-16-3E-00-00-01' returned"]


def test_digitalocean_identity():
    identity = digitalocean.parse_identity(sample("digitalocean_metadata.json"))
    assert (identity.instance_id, identity.hostname, identity.region) == ("2756294", "web-1",
                                                                          "ams3")
    assert identity.instance_type is None and identity.zone is None  # not in the metadata
    assert identity.public_ipv4 == ("198.51.100.7",)  # the active reserved IP
    assert identity.nics == (NicIdentity(PUBLIC, ("203.0.113.20",),
                                         ("2001:db8:800:10::17d:2001",)),)


def test_digitalocean_identity_of_public_nics_only_and_without_a_droplet_id():
    doc = do_doc()
    del doc["droplet_id"], doc["region"]
    public = doc["interfaces"]["public"]
    public[:0] = [{**public[0], "mac": "nope"}]  # skipped, not the end of the list
    public.append({"mac": "fa:16:3e:00:00:03"})  # a public NIC with no addresses
    identity = digitalocean.parse_identity(json.dumps(doc))
    assert (identity.instance_id, identity.region, identity.hostname) == (None, None, "web-1")
    assert identity.nics == (
        NicIdentity(PUBLIC, ("203.0.113.20",), ("2001:db8:800:10::17d:2001",)),
        NicIdentity("FA:16:3E:00:00:03", (), ()))


def _reserved(address, active=True):
    return {"ipv4": {"active": active, "ip_address": address}}


@pytest.mark.parametrize("keys, public_ipv4", [
    ({"reserved_ip": _reserved("198.51.100.7")}, ("198.51.100.7",)),
    ({"floating_ip": _reserved("198.51.100.8")}, ("198.51.100.8",)),  # its former name
    ({"reserved_ip": _reserved("198.51.100.7"), "floating_ip": _reserved("198.51.100.8")},
     ("198.51.100.7", "198.51.100.8")),
    ({"reserved_ip": _reserved("198.51.100.7", active=False)}, ()),
    ({"reserved_ip": _reserved("198.51.100.7", active="true")}, ()),
    ({"reserved_ip": "198.51.100.7", "floating_ip": {"ipv4": "198.51.100.8"}}, ()),
    ({}, ()),
])
def test_digitalocean_identity_active_reserved_ips(keys, public_ipv4):
    doc = do_doc()
    del doc["reserved_ip"], doc["floating_ip"]
    doc.update(keys)
    assert digitalocean.parse_identity(json.dumps(doc)).public_ipv4 == public_ipv4


# -- the provider against the emulator ------------------------------------------------

def _emulated(make_emulator):
    """The emulator serving a droplet (a public NIC with an anchor, a private one), and
    the provider aimed at it."""
    scenario = {**scenarios.generate(2, 1), "instance_id": 7, "hostname": "db-1",
                "region": "fra1", "public_ipv4": "198.51.100.9"}
    scenario["interfaces"][0]["anchor_ipv4"] = {"address": "10.17.0.5",
                                                "subnet": "10.17.0.0/16"}
    emulator = make_emulator("digitalocean", scenario)
    client = HttpClient(emulator.url, policy=RetryPolicy(attempts=1))
    return emulator, digitalocean.DigitalOcean(client, {})


DROPLET = ("7", "db-1", "fra1", ("198.51.100.9",),
           (NicIdentity("02:00:00:00:00:01", ("172.31.16.10",), ()),))


def test_digitalocean_a_run_and_its_identity_cost_one_request(make_emulator):
    emulator, provider = _emulated(make_emulator)
    provider.detect()
    instance = provider.get_config({"02:00:00:00:00:02": "eth1"})
    assert instance.provider == "digitalocean" and not instance.failed
    assert [(i.mac, i.index, i.addresses, i.subnet, i.gateway)
            for i in instance.interfaces] == [
        ("02:00:00:00:00:02", 1, ("172.31.32.10",), "172.31.32.0/20", "172.31.32.1")]
    identity = provider.identity(instance)
    assert (identity.instance_id, identity.hostname, identity.region, identity.public_ipv4,
            identity.nics) == DROPLET
    assert emulator.state.paths == {"/metadata/v1.json": 1}  # fetched while detecting


def test_digitalocean_identity_alone_asks_for_the_document(make_emulator):
    emulator, provider = _emulated(make_emulator)
    identity = provider.identity(InstanceData("digitalocean"))
    assert (identity.instance_id, identity.hostname, identity.region, identity.public_ipv4,
            identity.nics) == DROPLET
    assert emulator.state.paths == {"/metadata/v1.json": 1}
