"""EC2's provider against the emulator beyond test_ec2.py (providers/ec2.py): its options
(delegated prefixes as local routes or rules only, their first addresses, the interface
ids) and what each costs in requests; a subnet key that comes a moment late."""

from __future__ import annotations

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.providers.ec2 import Ec2
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy

MACS = {"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"}


def run(emulator, options):
    scenario = scenarios.generate(2, 1)
    scenario["interfaces"][0].update(ipv4_prefixes=["172.31.16.32/28"],
                                     ipv6_prefixes=["2600:1f18:aaaa:bb00:5::/80"])
    with emulator.state.lock:
        emulator.state.scenario = scenario
    provider = Ec2(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)), options)
    provider.detect()
    with emulator.state.lock:
        emulator.state.requests = 0
    instance = provider.get_config(MACS)
    assert not instance.failed and instance.provider == "ec2"
    return instance.interfaces, emulator.state.requests


def test_no_options_ask_for_no_prefix_and_no_id(emulator):
    (first, second), requests = run(emulator, {})
    assert (first.delegated, first.local_routes, first.interface_id) == ((), (), None)
    assert requests == 1 + 4 * 2 + 1  # listing, four keys per NIC, the first's card


@pytest.mark.parametrize("prefixes, local_routes", [
    ("local", ("172.31.16.32/28", "2600:1f18:aaaa:bb00:5::/80")), ("rules", ())])
def test_delegated_prefixes_and_their_first_addresses(emulator, prefixes, local_routes):
    (first, second), requests = run(emulator, {"prefixes": prefixes, "prefix_addresses": True})
    assert first.delegated == ("172.31.16.32/28", "2600:1f18:aaaa:bb00:5::/80")
    assert first.local_routes == local_routes
    assert first.delegated_addresses == ("172.31.16.32", "2600:1f18:aaaa:bb00:5::")
    assert (second.delegated, second.delegated_addresses) == ((), ())
    assert requests == 1 + 6 * 2 + 1  # and the two prefix keys per NIC


def test_interface_ids(emulator):
    (first, second), requests = run(emulator, {"interface_ids": True})
    assert (first.interface_id, second.interface_id) == ("eni-020000000001", "eni-020000000002")
    assert requests == 1 + 5 * 2 + 1


def test_a_late_subnet_key_has_the_address_key_asked_afresh(emulator):
    """The keys go out together; the subnet's 404 is waited for, and the address key,
    answered before that wait, is asked again (it may be as stale)."""
    scenario = scenarios.generate(2, 2)
    with emulator.state.lock:
        emulator.state.scenario = scenario
        emulator.state.rules = [{"match": "00:00:00:02/subnet-ipv4-cidr-block", "status": 404,
                                 "times": 1}]
    provider = Ec2(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)))
    provider.detect()
    with emulator.state.lock:
        emulator.state.requests = 0
    instance = provider.get_config(MACS)
    assert not instance.failed
    assert instance.interfaces[1].addresses == ("172.31.32.10", "172.31.32.11")
    assert emulator.state.requests == 1 + 4 * 2 + 2 + 1  # the subnet again, the addresses


def test_the_first_404_counts_as_the_first_try_of_the_wait(emulator):
    """The 404 that came with the other keys starts the wait: with 1.5 s to wait, one
    more try a second later, and a second 404 fails that NIC (not two more tries)."""
    with emulator.state.lock:
        emulator.state.scenario = scenarios.generate(2, 2)
        emulator.state.rules = [{"match": "00:00:00:02/subnet-ipv4-cidr-block", "status": 404,
                                 "times": 2}]
    provider = Ec2(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)))
    provider.pending_wait = 1.5
    provider.detect()
    first, second = provider.get_config(MACS).interfaces
    assert first.valid and not second.valid
    assert "subnet-ipv4-cidr-block" in second.error and "HTTP 404" in second.error


def test_a_listing_without_slashes_is_walked_the_same(emulator):
    """EC2-compatible servers may list the MACs without the trailing "/"."""
    with emulator.state.lock:
        emulator.state.scenario = scenarios.generate(2, 2)
        emulator.state.rules = [{"match": "interfaces/macs/", "status": 200, "times": 1,
                                 "body": "02:00:00:00:00:01\n02:00:00:00:00:02\n"}]
    provider = Ec2(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)))
    provider.detect()
    instance = provider.get_config(MACS)
    assert not instance.failed and [i.addresses for i in instance.interfaces] == [
        ("172.31.16.10", "172.31.16.11"), ("172.31.32.10", "172.31.32.11")]


def test_a_dual_stack_nic_has_its_ipv4_keys_from_the_first_round(emulator):
    with emulator.state.lock:
        emulator.state.scenario = scenarios.generate(2, 2, ipv6s=1)
    provider = Ec2(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)))
    provider.detect()
    instance = provider.get_config(MACS)
    assert not instance.failed
    assert [(i.addresses, i.subnet, len(i.ipv6_addresses)) for i in instance.interfaces] == [
        (("172.31.16.10", "172.31.16.11"), "172.31.16.0/20", 1),
        (("172.31.32.10", "172.31.32.11"), "172.31.32.0/20", 1)]


def test_a_nic_whose_keys_fail_is_asked_nothing_more(emulator):
    with emulator.state.lock:
        emulator.state.scenario = scenarios.generate(2, 2)
        emulator.state.rules = [{"match": "00:00:00:02/local-ipv4s", "status": 500}]
    provider = Ec2(HttpClient(emulator.url, policy=RetryPolicy(attempts=1)),
                   {"prefixes": "local", "interface_ids": True})
    provider.detect()
    with emulator.state.lock:
        emulator.state.requests = 0
    first, second = provider.get_config(MACS).interfaces
    assert first.valid and "HTTP 500" in second.error
    # the listing; the first NIC: its first 3 keys, 2 prefixes, its id and number, its
    # card; the second: its first 3 keys only
    assert emulator.state.requests == 1 + 7 + 1 + 3
