"""Azure's walk of the text form (providers/azure.py) on canned answers: the service's
NIC numbers (not always 0, 1, ...) in the paths asked and in upstream's lines, a NIC
whose details fail, and IPv6 addresses walked.  test_azure.py has the document and the
walk against the emulator."""

from __future__ import annotations

import json
import logging

import pytest

from nm_cloud_setup.errors import HttpError, MetadataError
from nm_cloud_setup.providers import azure
from nm_cloud_setup.providers.http import HttpClient

Q = "?format=text&api-version=2017-04-02"
W = "/metadata/instance/network/interface/"


class Canned(azure.Azure):
    """Answers from a dict of paths (a 404 for the others); the paths asked, in order."""

    def __init__(self, answers):
        super().__init__(HttpClient("http://127.0.0.1:9"), {})  # asked nothing
        self.answers, self.asked = answers, []
        self.walking = True

    def get(self, path: str) -> str:
        self.asked.append(path)
        if path not in self.answers:
            raise HttpError(path, "HTTP 404 Not Found", 404)
        return self.answers[path]


def nic(number: int, mac: str, addresses, ipv6=None) -> dict:
    answers = {f"{W}{number}/macAddress{Q}": mac + "\n",
               f"{W}{number}/ipv4/ipAddress/{Q}": "".join(f"{k}/\n"
                                                          for k in range(len(addresses))),
               f"{W}{number}/ipv4/subnet/0/address/{Q}": "10.0.0.0\n",
               f"{W}{number}/ipv4/subnet/0/prefix/{Q}": "24\n"}
    for k, address in enumerate(addresses):
        answers[f"{W}{number}/ipv4/ipAddress/{k}/privateIpAddress{Q}"] = address + "\n"
    if ipv6 is not None:
        answers[f"{W}{number}/ipv6/ipAddress/{Q}"] = "".join(f"{k}/\n" for k in range(len(ipv6)))
        for k, address in enumerate(ipv6):
            answers[f"{W}{number}/ipv6/ipAddress/{k}/privateIpAddress{Q}"] = address + "\n"
    return answers


def test_the_services_numbers_are_in_the_paths_and_the_lines(caplog):
    provider = Canned({f"{W}{Q}": "0/\n2/\n", **nic(0, "000D3A000001", ["10.0.0.4"]),
                       **nic(2, "000D3A000002", ["10.0.0.5", "10.0.0.6"],
                             ["ace:cab:deca:deed::5"])})
    with caplog.at_level(logging.DEBUG):
        instance = provider.get_config({"00:0D:3A:00:00:02": "eth1"})
    assert [(i.mac, i.index, i.addresses, i.subnet, i.ipv6_addresses, i.ipv6_gateway)
            for i in instance.interfaces] == [
        ("00:0D:3A:00:00:02", 1, ("10.0.0.5", "10.0.0.6"), "10.0.0.0/24",
         ("ace:cab:deca:deed::5",), "fe80::1234:5678:9abc")]
    assert (instance.provider, instance.unmatched) == ("azure", ("00:0D:3A:00:00:01",))
    assert not any(path.startswith(f"{W}0/ipv4") for path in provider.asked)
    assert [r.getMessage() for r in caplog.records
            if r.name.startswith("nm_cloud_setup.providers.")] == [
        "found azure interfaces: 2",
        "azure interface[0]: retrieving configuration",  # listing.py's, named
        "azure interface[2]: retrieving configuration",
        "interface[0]: found a matching device with hwaddr 00:0D:3A:00:00:01",
        "interface[2]: found a matching device with hwaddr 00:0D:3A:00:00:02",
        "interface[2]: received address 10.0.0.5",
        "interface[2]: received address 10.0.0.6",
        "interface[2]: received subnet address 10.0.0.0",
        "interface[2]: received subnet prefix 24"]


def test_a_nic_whose_details_fail_is_that_nics_error():
    answers = {f"{W}{Q}": "0/\n1/\n", **nic(0, "000D3A000001", ["10.0.0.4"]),
               **nic(1, "000D3A000002", ["10.0.0.5"])}
    del answers[f"{W}1/ipv4/subnet/0/prefix/{Q}"]
    instance = Canned(answers).get_config({"00:0D:3A:00:00:01": "eth0",
                                           "00:0D:3A:00:00:02": "eth1"})
    first, second = instance.interfaces
    assert first.valid and first.addresses == ("10.0.0.4",)
    assert (second.mac, second.index, second.addresses) == ("00:0D:3A:00:00:02", 1, ())
    assert "404" in second.error and "1/ipv4/subnet/0/prefix/" in second.error


def test_a_mac_that_cannot_be_had_fails_the_run():
    answers = {f"{W}{Q}": "0/\n", **nic(0, "000D3A000001", ["10.0.0.4"])}
    del answers[f"{W}0/macAddress{Q}"]
    with pytest.raises(HttpError):
        Canned(answers).get_config({"00:0D:3A:00:00:01": "eth0"})


def test_a_bad_walked_value_is_that_nics_error_in_its_words():
    answers = {f"{W}{Q}": "0/\n", **nic(0, "000D3A000001", ["10.0.0.4"])}
    answers[f"{W}0/ipv4/subnet/0/prefix/{Q}"] = "40\n"
    (only,) = Canned(answers).get_config({"00:0D:3A:00:00:01": "eth0"}).interfaces
    assert (only.mac, only.index, only.error) == ("00:0D:3A:00:00:01", 0,
                                                  "invalid subnet prefix 40")


def test_an_interface_without_its_keys_says_which_one():
    with pytest.raises(MetadataError) as err:
        azure.parse_network('{"interface": [{"macAddress": "000D3A5D2D66", "ipv4": {}}]}')
    assert str(err.value) == ("Azure interface[0] lacks macAddress, ipv4.ipAddress or "
                              "ipv4.subnet")


def test_a_bad_nic_of_the_document_is_that_nics_error():
    provider = Canned({})
    provider.walking = False
    provider._document = json.dumps({"interface": [
        {"macAddress": "000D3A000001", "ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4"}],
                                                "subnet": [{"address": "10.0.0.0",
                                                            "prefix": "24"}]}},
        {"macAddress": "000D3A000002", "ipv4": {"ipAddress": [], "subnet": [
            {"address": "10.0.0.0", "prefix": "24"}]}}]})
    instance = provider.get_config({"00:0D:3A:00:00:01": "eth0", "00:0D:3A:00:00:02": "eth1"})
    assert [(i.mac, i.index, i.addresses, i.error) for i in instance.interfaces] == [
        ("00:0D:3A:00:00:01", 0, ("10.0.0.4",), None),
        ("00:0D:3A:00:00:02", 1, (), "no IPv4 address")]
    assert (instance.provider, instance.unmatched, provider.asked) == ("azure", (), [])
