"""DigitalOcean's and Hetzner's parsers: documented shapes, malformed ones, arbitrary input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.model import Network
from nm_cloud_setup.providers import digitalocean, hetzner
from tests.support.parsers import json_values, mutate, sample

DO_MACS = {"FA:16:3E:00:00:01": "eth0", "FA:16:3E:00:00:02": "eth1"}
HZ_MACS = {"86:00:00:2A:7D:E0": "enp7s0", "86:00:00:20:10:50": "enp8s0"}


def do_doc() -> dict:
    return json.loads(sample("digitalocean_metadata.json"))


# -- DigitalOcean --------------------------------------------------------------

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


# -- Hetzner -------------------------------------------------------------------

def test_hetzner_private_networks_and_alias_ips():
    first, second = hetzner.parse_private_networks(sample("hetzner_private_networks.yaml"),
                                                   HZ_MACS)
    assert (first.index, first.addresses, first.subnet, first.gateway) == (
        1, ("10.0.0.2", "10.0.0.3", "10.0.0.4"), "10.0.0.0/24", "10.0.0.1")
    assert (second.index, second.addresses, second.subnet) == (2, ("192.168.0.2",),
                                                                "192.168.0.0/24")


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


def test_hetzner_alias_outside_the_subnet_is_left_out():
    text = sample("hetzner_private_networks.yaml").replace("10.0.0.4]", "10.9.0.4]")
    first = hetzner.parse_private_networks(text, HZ_MACS)[0]
    assert first.addresses == ("10.0.0.2", "10.0.0.3") and first.error is None


@pytest.mark.parametrize("old, new, message", [
    ("ip: 10.0.0.2", "ip: 10.0.0.256", "invalid IPv4 address"),
    ("ip: 10.0.0.2", "ip: 10.1.0.2", "outside the NIC's subnet"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: 10.0.0.3", "not a list of addresses"),
    ("alias_ips: [10.0.0.3, 10.0.0.4]", "alias_ips: [10.0.0.3, x]", "invalid IPv4 alias IP"),
    ("subnet: 10.0.0.0/24", "subnet: 10.0.0.0", "no usable prefix length"),
    ("subnet: 10.0.0.0/24", "subnet: [10.0.0.0/24]", "'subnet' is missing"),
    ("gateway: 10.0.0.1", "gateway: gw", "invalid IPv4 gateway"),
    ("interface_num: 1", "interface_num: one", "invalid interface_num"),
    ("interface_num: 1", "interface_num: 2", "index 2 is also that of"),
])
def test_hetzner_a_bad_network_fails_alone(old, new, message):
    text = sample("hetzner_private_networks.yaml").replace(old, new, 1)
    nics = hetzner.parse_private_networks(text, HZ_MACS)
    bad = [n for n in nics if n.error]
    assert len(bad) == 1 and message in bad[0].error, nics
    assert bad[0].addresses == ()
    assert [n.addresses for n in nics if not n.error] == [("192.168.0.2",)] or \
        "index 2" in message


@pytest.mark.parametrize("body, message", [
    ("- ip: [unclosed\n", "not valid YAML"),
    ("ip: 10.0.0.2\n", "not a list"),
    ("\t- x", "not valid YAML"),
    ("- &a [*a]\n", "private network"),
])
def test_hetzner_bad_documents_raise_or_fail_the_entry(body, message):
    try:
        nics = hetzner.parse_private_networks(body, HZ_MACS)
    except MetadataError as err:
        assert message in str(err)
    else:
        assert nics == []  # an entry without a MAC matches no NIC


def test_hetzner_identity():
    identity = hetzner.parse_identity(sample("hetzner_metadata.yaml"))
    assert (identity.instance_id, identity.hostname, identity.region, identity.zone) == (
        "42", "my-server", "eu-central", "fsn1-dc14")
    assert identity.public_ipv4 == ("192.0.2.44",) and identity.instance_type is None
    with pytest.raises(MetadataError, match="not a YAML mapping"):
        hetzner.parse_identity("- a\n")


# -- arbitrary and mutated input raises nothing but the project's own errors ------

PARSERS = [lambda t: digitalocean.parse_interfaces(t, DO_MACS),
           lambda t: digitalocean.parse_identity(t),
           lambda t: hetzner.parse_private_networks(t, HZ_MACS),
           lambda t: hetzner.parse_identity(t)]


@pytest.mark.parametrize("parse", PARSERS, ids=["do", "do-identity", "hetzner", "hz-identity"])
@settings(max_examples=300, deadline=None)
@given(body=st.text(max_size=200) | json_values.map(json.dumps))
def test_arbitrary_bodies_raise_only_project_errors(parse, body):
    try:
        parse(body)
    except CloudSetupError:
        pass


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_documents_raise_only_project_errors(data):
    import yaml

    body = json.dumps(mutate(do_doc(), data))
    hz = yaml.safe_dump(mutate(yaml.safe_load(sample("hetzner_private_networks.yaml")), data))
    for parse, text in ((PARSERS[0], body), (PARSERS[1], body), (PARSERS[2], hz)):
        try:
            parse(text)
        except CloudSetupError:
            pass
