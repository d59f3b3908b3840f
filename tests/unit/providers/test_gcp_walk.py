"""GCP's walk of upstream's text form (providers/gcp.py) on canned answers: the probe's
body reused, the service's NIC numbers in the paths and the lines, the forwarded IPs
asked only for local NICs, a NIC whose forwarded IPs fail failing alone, and the
errors' words whole.  test_gcp.py has the one-request document and the walk against
the emulator."""

from __future__ import annotations

import logging

import pytest

from nm_cloud_setup.errors import HttpError, MetadataError
from nm_cloud_setup.providers import gcp
from nm_cloud_setup.providers.http import HttpClient

W = "/computeMetadata/v1/instance/network-interfaces/"


class Canned(gcp.Gcp):
    """Answers from a dict of paths (a 404 for the others); the paths asked, in order."""

    def __init__(self, answers, probe=None, options=None):
        super().__init__(HttpClient("http://127.0.0.1:9"), options or {})  # asked nothing
        self.answers, self.asked = answers, []
        self.walking, self.walk_start = True, probe

    def get(self, path: str) -> str:
        self.asked.append(path)
        if path not in self.answers:
            raise HttpError(path, "HTTP 404 Not Found", 404)
        return self.answers[path]


def nic(number: int, mac: str, forwarded=None) -> dict:
    answers = {f"{W}{number}/mac": mac + "\n"}
    if forwarded is not None:
        answers[f"{W}{number}/forwarded-ips/"] = "".join(f"{k}\n" for k in range(len(forwarded)))
        for k, address in enumerate(forwarded):
            answers[f"{W}{number}/forwarded-ips/{k}"] = address + "\n"
    return answers


MAC0, MAC2 = "42:01:0a:80:00:02", "42:01:0a:82:00:02"


def test_the_probes_body_is_the_listing_and_the_numbers_are_the_services(caplog):
    provider = Canned({**nic(0, MAC0, ["35.1.1.1"]), **nic(2, MAC2, ["35.2.2.2", "35.2.2.3"])},
                      probe="0/\n2/\n")
    with caplog.at_level(logging.INFO, logger="nm_cloud_setup.providers.gcp"):
        instance = provider.get_config({MAC2.upper(): "eth1"})
    assert [(i.mac, i.index, i.local_routes, i.error) for i in instance.interfaces] == [
        (MAC2.upper(), 1, ("35.2.2.2/32", "35.2.2.3/32"), None)]
    assert instance.unmatched == (MAC0.upper(),)
    # the probe is not asked again; the other NIC's forwarded IPs are not asked at all
    assert provider.asked == [f"{W}0/mac", f"{W}2/mac", f"{W}2/forwarded-ips/",
                              f"{W}2/forwarded-ips/0", f"{W}2/forwarded-ips/1"]
    assert [r.getMessage() for r in caplog.records if r.name == gcp.LOG.name] == [
        "found GCP interfaces: 2",
        f"GCP interface[0]: found a device with hwaddr {MAC0.upper()}",
        f"GCP interface[2]: found a requested device with hwaddr {MAC2.upper()}",
        "GCP interface[2]: found 2 forwarded ips",
        "GCP interface[2]: adding forwarded-ip 35.2.2.2",
        "GCP interface[2]: adding forwarded-ip 35.2.2.3"]
    assert provider.walk_first() is None  # handed out once


def test_without_the_probes_body_the_listing_is_asked():
    provider = Canned({W: "0/\n", **nic(0, MAC0, [])})
    (only,) = provider.get_config({MAC0.upper(): "eth0"}).interfaces
    assert (only.index, only.local_routes, only.error) == (0, (), None)
    assert provider.asked == [W, f"{W}0/mac", f"{W}0/forwarded-ips/"]


def test_forwarded_ips_switched_off_are_not_asked():
    provider = Canned(nic(0, MAC0, ["35.1.1.1"]), probe="0/\n",
                      options={"forwarded_ips": False})
    (only,) = provider.get_config({MAC0.upper(): "eth0"}).interfaces
    assert only.local_routes == () and only.error is None
    assert provider.asked == [f"{W}0/mac"]


def test_a_nic_whose_forwarded_ips_fail_fails_alone():
    answers = {**nic(0, MAC0, ["35.1.1.1"]), **nic(1, MAC2, ["35.2.2.2"])}
    del answers[f"{W}0/forwarded-ips/0"]
    provider = Canned(answers, probe="0/\n1/\n")
    first, second = provider.get_config({MAC0.upper(): "eth0", MAC2.upper(): "eth1"}).interfaces
    assert (first.mac, first.index, first.local_routes) == (MAC0.upper(), 0, ())
    assert first.error == f"{W}0/forwarded-ips/0: HTTP 404 Not Found"
    assert (second.index, second.local_routes, second.error) == (1, ("35.2.2.2/32",), None)


def test_a_failed_forwarded_ip_listing_fails_that_nic():
    answers = nic(0, MAC0)
    provider = Canned(answers, probe="0/\n")
    (only,) = provider.get_config({MAC0.upper(): "eth0"}).interfaces
    assert only.error == f"{W}0/forwarded-ips/: HTTP 404 Not Found"


def test_a_failed_mac_fails_the_run():
    provider = Canned(nic(0, MAC0, []), probe="0/\n1/\n")
    with pytest.raises(HttpError) as caught:
        provider.get_config({MAC0.upper(): "eth0"})
    assert caught.value.code == 404 and f"{W}1/mac" in str(caught.value)


@pytest.mark.parametrize("probe", ["", "mac\nnot-a-number/\n"])
def test_no_numbered_nic_is_an_error(probe):
    with pytest.raises(MetadataError) as caught:
        Canned({}, probe=probe).get_config({MAC0.upper(): "eth0"})
    assert str(caught.value) == "no GCP interfaces found"


# -- the document's errors, their words whole -----------------------------------

@pytest.mark.parametrize("body, message", [
    ("[1", "the GCP network-interfaces document is not valid JSON"),
    ("{}", "the GCP network-interfaces document is not a list"),
    ('[{"mac": "%s"}, {"ip": "10.0.0.2"}]' % MAC0, "GCP interface[1] has no 'mac'"),
    ('[{"mac": 7}]', "GCP interface[0] has no 'mac'"),
    ('["%s"]' % MAC0, "GCP interface[0] has no 'mac'"),
    ('[{"mac": "%s", "ipAliases": ["10.0.0.0/24", 1]}]' % MAC0,
     "GCP interface[0]: 'ipAliases' is not a list of strings"),
    ('[{"mac": "%s", "targetInstanceIps": {}}]' % MAC0,
     "GCP interface[0]: 'targetInstanceIps' is not a list of strings"),
])
def test_bad_documents_are_named(body, message):
    with pytest.raises(MetadataError) as caught:
        gcp.parse_interfaces(body)
    assert str(caught.value).startswith(message)


def test_a_documents_nic_keeps_its_lists_and_defaults():
    (entry,) = gcp.parse_interfaces('[{"mac": "%s", "forwardedIps": ["35.1.1.1"]}]' % MAC0)
    assert entry == {"mac": MAC0, "ipv6s": [], "mtu": None, "forwardedIps": ["35.1.1.1"],
                     "targetInstanceIps": [], "ipAliases": [], "forwardedIpv6s": []}


@pytest.mark.parametrize("key, value, message", [
    ("forwardedIps", "35.1.1.999", "invalid IPv4 forwarded IP '35.1.1.999'"),
    ("targetInstanceIps", "127.0.0.1", "IPv4 forwarded IP 127.0.0.1/32 cannot be delivered"),
    ("ipAliases", "10.0.0.0/33", "invalid IPv4 alias range '10.0.0.0/33'"),
    ("ipAliases", "224.0.0.0/24", "IPv4 alias range 224.0.0.0/24 cannot be delivered"),
])
def test_bad_values_name_their_kind(key, value, message):
    with pytest.raises(MetadataError) as caught:
        gcp.interface_from(0, MAC0, {key: [value]}, {})
    assert str(caught.value).startswith(message)


def test_ipv6s_not_a_list_names_the_nic():
    with pytest.raises(MetadataError) as caught:
        gcp.interface_from(3, MAC0, {"ipv6s": "2600:1900::1"}, {})
    assert str(caught.value) == "GCP interface[3]: 'ipv6s' is not a list"


def test_the_table_index_is_the_number_unless_given():
    assert gcp.interface_from(3, MAC0, {}, {}).index == 3
    assert gcp.interface_from(3, MAC0, {}, {}, 1).index == 1
    assert gcp.interface_from(3, MAC0, {}, {}, 0).index == 0


def test_a_forwarded_ip_listed_twice_is_one_route():
    nic_doc = {"forwardedIps": ["35.1.1.1", "35.1.1.1/32"], "ipAliases": ["35.1.1.1"]}
    assert gcp.interface_from(0, MAC0, nic_doc, {}).local_routes == ("35.1.1.1/32",)


def test_a_walked_nic_listed_twice_or_without_a_mac_is_said_by_its_number(caplog):
    provider = Canned({**nic(0, MAC0, ["35.1.1.1"]), **nic(2, "bogus"), **nic(5, MAC0)},
                      probe="0/\n2/\n5/\n")
    with caplog.at_level(logging.INFO, logger="nm_cloud_setup.providers"):
        instance = provider.get_config({MAC0.upper(): "eth0"})
    assert instance.provider == "GCP"
    assert [(i.mac, i.index, i.local_routes) for i in instance.interfaces] == [
        (MAC0.upper(), 0, ("35.1.1.1/32",))]
    assert "GCP interface[2]: invalid MAC address returned" in caplog.messages
    assert f"GCP interface[5]: duplicate MAC address {MAC0.upper()} returned" in caplog.messages


def test_a_walked_nic_whose_forwarded_ip_is_bad_fails_alone_at_its_place():
    provider = Canned({**nic(0, MAC0, ["35.1.1.1"]), **nic(3, MAC2, ["35.1.1.999"])},
                      probe="0/\n3/\n")
    good, bad = provider.get_config({MAC0.upper(): "eth0", MAC2.upper(): "eth1"}).interfaces
    assert (good.index, good.error) == (0, None)
    assert (bad.mac, bad.index, bad.error) == (MAC2.upper(), 1,
                                               "invalid IPv4 forwarded IP '35.1.1.999'")


def test_one_kind_switched_off_leaves_the_others():
    nic_doc = {"forwardedIps": ["35.1.1.1"], "targetInstanceIps": ["35.2.2.2"],
               "ipAliases": ["10.8.0.0/24"], "forwardedIpv6s": ["2600:1900::/96"]}
    assert gcp.interface_from(0, MAC0, nic_doc, {"forwarded_ips": False}).local_routes == (
        "35.2.2.2/32", "10.8.0.0/24")
