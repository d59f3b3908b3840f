"""EC2 (providers/ec2.py): its parser on recorded shapes and malformed input, its IPv6
keys, and the provider against the emulator: tokens, request counts, per-NIC failures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.errors import CloudSetupError, MetadataError
from nm_cloud_setup.providers import ec2
from nm_cloud_setup.providers.ec2 import Ec2, parse_interface
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from tests.support.parsers import MAC


def good(**over):
    values = {"device-number": "1", "local-ipv4s": "10.0.1.10\n10.0.1.11",
              "subnet-ipv4-cidr-block": "10.0.1.0/24"}
    values.update(over)
    return values


def test_interface():
    data = parse_interface(MAC, 5, good())
    assert (data.index, data.addresses, data.subnet) == (1, ("10.0.1.10", "10.0.1.11"),
                                                         "10.0.1.0/24")


def test_missing_device_number_uses_listing_position():
    assert parse_interface(MAC, 5, good(**{"device-number": None})).index == 5


def test_duplicate_addresses_are_dropped_primary_first():
    data = parse_interface(MAC, 0, good(**{"local-ipv4s": "10.0.1.11\n10.0.1.10\n10.0.1.11\n"}))
    assert data.addresses == ("10.0.1.11", "10.0.1.10")


@pytest.mark.parametrize("key, body, message", [
    ("local-ipv4s", "", "empty address list"),
    ("local-ipv4s", "10.0.1.300", "invalid IPv4 address '10.0.1.300'"),
    ("local-ipv4s", "fe80::1", "invalid IPv4 address"),
    ("local-ipv4s", "0.0.0.0", "cannot be assigned"),
    ("local-ipv4s", "127.0.0.1", "cannot be assigned"),
    ("local-ipv4s", "224.0.0.5", "cannot be assigned"),
    ("local-ipv4s", "169.254.169.254", "cannot be assigned"),
    ("local-ipv4s", "\n".join(f"10.0.{i // 250}.{i % 250 + 1}" for i in range(2000)),
     "more than 1024"),
    ("local-ipv4s", None, "local-ipv4s not \\(yet\\) available"),
    ("subnet-ipv4-cidr-block", "10.0.1.0/33", "invalid IPv4 subnet"),
    ("subnet-ipv4-cidr-block", "10.0.1.0/0", "no usable prefix"),
    ("subnet-ipv4-cidr-block", "10.0.1.0", "no usable prefix"),
    ("subnet-ipv4-cidr-block", "0.0.0.0/0", "no usable prefix"),
    ("subnet-ipv4-cidr-block", "garbage", "invalid IPv4 subnet"),
    ("subnet-ipv4-cidr-block", None, "not \\(yet\\) available"),
    ("device-number", "-1", "invalid device-number"),
    ("device-number", "one", "invalid device-number"),
    ("device-number", "99999999", "invalid device-number"),
])
def test_bad_interface_values(key, body, message):
    with pytest.raises(MetadataError, match=message):
        parse_interface(MAC, 0, good(**{key: body}))


def test_address_outside_the_subnet_is_kept_with_the_subnet_prefix(caplog):
    """As upstream: 172.31.176.249 on a NIC whose block is 172.31.160.0/20 is added (as
    /20); a warning says so."""
    data = parse_interface(MAC, 0, good(**{"local-ipv4s": "172.31.160.10\n172.31.176.249",
                                            "subnet-ipv4-cidr-block": "172.31.160.0/20"}))
    assert data.addresses == ("172.31.160.10", "172.31.176.249") and data.valid
    assert "address 172.31.176.249 is outside the NIC's subnet 172.31.160.0/20" in caplog.text


@given(st.text(max_size=200), st.text(max_size=60), st.text(max_size=10))
def test_arbitrary_interface_raises_only_metadata_error(ips, subnet, number):
    try:
        parse_interface(MAC, 0, {"local-ipv4s": ips, "subnet-ipv4-cidr-block": subnet,
                                 "device-number": number})
    except CloudSetupError:
        pass


# -- IPv6 keys -----------------------------------------------------------------

def ec2_values(**over):
    values = {"device-number": "1", "local-ipv4s": "10.0.1.10",
              "subnet-ipv4-cidr-block": "10.0.1.0/24",
              "ipv6s": "2600:1f18:aaaa:bb00::10\n2600:1f18:aaaa:bb00::11\n",
              "subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:bb00::/64"}
    values.update(over)
    return values


def test_ec2_dual_stack():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values())
    assert nic.ipv6_addresses == ("2600:1f18:aaaa:bb00::10", "2600:1f18:aaaa:bb00::11")
    assert (nic.ipv6_subnet, nic.ipv6_gateway) == ("2600:1f18:aaaa:bb00::/64", None)


def test_ec2_ipv6_only_nic_answers_404_for_local_ipv4s():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "local-ipv4s": None, "subnet-ipv4-cidr-block": None}))
    assert nic.addresses == () and nic.subnet is None and len(nic.ipv6_addresses) == 2


def test_ec2_absent_ipv6_keys_mean_no_ipv6():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "ipv6s": None, "subnet-ipv6-cidr-blocks": None}))
    assert nic.ipv6_addresses == () and nic.ipv6_subnet is None and nic.addresses


def test_ec2_subnet_holding_the_addresses_is_chosen():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:cc00::/64\n2600:1f18:aaaa:bb00::/64"}))
    assert nic.ipv6_subnet == "2600:1f18:aaaa:bb00::/64"


@pytest.mark.parametrize("over, message", [
    ({"ipv6s": "2600:1f18:aaaa:bb00::10\n10.0.1.11"}, "IPv4 address where an IPv6"),
    ({"ipv6s": "2600:1f18:aaaa:bb00::1g"}, "invalid IPv6 address"),
    ({"subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:bb00::/200"}, "invalid IPv6 subnet"),
    ({"subnet-ipv6-cidr-blocks": "2600:1f18:aaaa:cc00::/64"}, "outside the NIC's subnet"),
    ({"subnet-ipv6-cidr-blocks": None}, "subnet-ipv6-cidr-blocks not (yet) available"),
    ({"local-ipv4s": None, "ipv6s": None}, "local-ipv4s not (yet) available"),
])
def test_ec2_bad_ipv6_values(over, message):
    with pytest.raises(MetadataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**over))


def test_ec2_delegated_prefixes_are_local_routes():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "ipv4-prefix": "10.0.1.32/28\n10.0.1.48/28", "ipv6-prefix": "2600:1f18:aaaa:bb00:5::/80"}))
    assert nic.local_routes == ("10.0.1.32/28", "10.0.1.48/28", "2600:1f18:aaaa:bb00:5::/80")
    assert nic.delegated == nic.local_routes and nic.delegated_addresses == ()


def test_ec2_delegated_prefixes_as_rules_only_and_their_first_addresses():
    nic = ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**{
        "ipv4-prefix": "10.0.1.32/28", "ipv6-prefix": "2600:1f18:aaaa:bb00:5::/80"}),
        prefixes="rules", prefix_addresses=True)
    assert nic.local_routes == ()
    assert nic.delegated == ("10.0.1.32/28", "2600:1f18:aaaa:bb00:5::/80")
    assert nic.delegated_addresses == ("10.0.1.32", "2600:1f18:aaaa:bb00:5::")


@pytest.mark.parametrize("over", [{"ipv4-prefix": "2600::/80"}, {"ipv6-prefix": "10.0.1.32/28"},
                                  {"ipv6-prefix": "2600:1f18::/80/3"}])
def test_ec2_bad_delegated_prefixes(over):
    with pytest.raises(MetadataError):
        ec2.parse_interface("0A:1B:2C:3D:4E:5F", 0, ec2_values(**over))


@given(st.text(max_size=120), st.text(max_size=60))
def test_arbitrary_ec2_ipv6_bodies_raise_only_project_errors(ipv6s, subnets):
    try:
        ec2.parse_interface("02:00:00:00:00:01", 0, ec2_values(**{
            "ipv6s": ipv6s, "subnet-ipv6-cidr-blocks": subnets}))
    except CloudSetupError:
        pass


# -- the provider against the emulator -----------------------------------------

MACS = {"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"}


def provider_for(emulator, scenario=None, attempts=1):
    if scenario is not None:
        with emulator.state.lock:
            emulator.state.scenario = scenario
    return Ec2(HttpClient(emulator.url, policy=RetryPolicy(attempts=attempts)))


@pytest.mark.parametrize("tokens", scenarios.TOKEN_MODES)
def test_token_modes(emulator, tokens):
    ec2 = provider_for(emulator, scenarios.generate(2, 3, tokens))
    ec2.detect()
    instance = ec2.get_config(MACS)
    assert [i.addresses for i in instance.interfaces] == [
        ("172.31.16.10", "172.31.16.11", "172.31.16.12"),
        ("172.31.32.10", "172.31.32.11", "172.31.32.12")]
    assert [i.index for i in instance.interfaces] == [0, 1]
    assert not instance.failed


def test_request_count_is_two_plus_four_per_nic_and_one_card(emulator):
    ec2 = provider_for(emulator)
    ec2.detect()
    ec2.get_config(MACS)
    # token, listing, 4 keys per NIC (3 for IPv4, ipv6s), the first NIC's network-card
    assert emulator.state.requests == 2 + 4 * 2 + 1


def test_dual_stack_nic_costs_one_more_request_for_its_ipv6_subnet(emulator):
    scenario = scenarios.generate(2, 1, ipv6s=2)
    del scenario["interfaces"][0]["ipv6s"], scenario["interfaces"][0]["ipv6_subnet"]
    ec2 = provider_for(emulator, scenario)
    ec2.detect()
    instance = ec2.get_config(MACS)
    assert emulator.state.requests == 2 + 4 * 2 + 1 + 1
    assert [i.ipv6_addresses for i in instance.interfaces] == [
        (), ("2600:1f18:aaaa:bb02::10", "2600:1f18:aaaa:bb02::11")]
    assert instance.interfaces[1].ipv6_subnet == "2600:1f18:aaaa:bb02::/64"


def test_stale_token_is_fetched_again_once(emulator):
    ec2 = provider_for(emulator, scenarios.generate(2, 1, "required"))
    ec2.detect()
    with emulator.state.lock:
        emulator.state.api.tokens.valid.clear()  # every token expired
    assert len(ec2.get_config(MACS).interfaces) == 2
    assert emulator.state.paths["/latest/api/token"] == 2


def test_only_local_macs_are_fetched(emulator):
    ec2 = provider_for(emulator)
    ec2.detect()
    instance = ec2.get_config({"02:00:00:00:00:02": "eth2"})
    assert [i.mac for i in instance.interfaces] == ["02:00:00:00:00:02"]
    assert not any("00:00:00:01/" in path for path in emulator.state.paths)


def test_a_failing_nic_is_reported_and_the_other_still_parsed(emulator):
    ec2 = provider_for(emulator)
    ec2.detect()
    with emulator.state.lock:
        emulator.state.rules = [{"match": "00:00:00:02/subnet", "status": 500}]
    instance = ec2.get_config(MACS)
    good, bad = instance.interfaces
    assert good.valid and len(good.addresses) == 3
    assert bad.error is not None and "HTTP 500" in bad.error and not bad.valid


def test_nic_without_keys_yet_is_an_error_not_empty(emulator):
    """Right after a hot-plug the MAC is listed but its keys answer 404: waited for (as
    upstream polls), then an error for that NIC, never "no addresses"."""
    ec2 = provider_for(emulator)
    ec2.pending_wait = 0
    ec2.detect()
    with emulator.state.lock:
        emulator.state.rules = [{"match": "00:00:00:02/local-ipv4s", "status": 404}]
    bad = ec2.get_config(MACS).interfaces[1]
    assert "local-ipv4s: " in bad.error and "HTTP 404" in bad.error and not bad.valid


def test_a_key_that_appears_a_moment_later_is_waited_for(emulator):
    ec2 = provider_for(emulator)
    ec2.detect()
    with emulator.state.lock:
        emulator.state.rules = [{"match": "00:00:00:02/local-ipv4s", "status": 404, "times": 1}]
    instance = ec2.get_config(MACS)
    assert not instance.failed and len(instance.interfaces[1].addresses) == 3


def test_a_local_mac_missing_from_the_list_is_waited_for(emulator):
    """As upstream: the list is asked again (once a second) until every local MAC is in."""
    ec2 = provider_for(emulator)
    ec2.detect()
    with emulator.state.lock:
        emulator.state.rules = [{"match": "interfaces/macs/", "status": 200, "times": 1,
                                 "body": "02:00:00:00:00:01/\n"}]
    instance = ec2.get_config(MACS)
    assert [i.mac for i in instance.interfaces] == list(MACS) and not instance.failed
    ec2.listing_wait = 0  # and a MAC that never comes is left alone
    with emulator.state.lock:
        emulator.state.rules = [{"match": "interfaces/macs/", "status": 200,
                                 "body": "02:00:00:00:00:01/\n"}]
    assert [i.mac for i in ec2.get_config(MACS).interfaces] == ["02:00:00:00:00:01"]


@pytest.mark.parametrize("fault", [
    {"match": "/device-number", "status": 404},
    {"match": "00:02/device-number", "status": 404},
    {"match": "00:02/device-number", "status": 200, "body": "two"},
    {"match": "/device-number", "status": 500},
], ids=["404-all", "404-one", "garbage-one", "500-all"])
def test_device_number_is_optional(emulator, fault):
    """A key upstream never reads: without it for every NIC, upstream's rule (the list
    position) for all; never a failed NIC."""
    scenario = scenarios.generate(2, 2)
    for iface in scenario["interfaces"]:
        iface["device_number"] += 3
    ec2 = provider_for(emulator, scenario)
    ec2.detect()
    with emulator.state.lock:
        emulator.state.rules = [fault]
    instance = ec2.get_config(MACS)
    assert not instance.failed and [i.index for i in instance.interfaces] == [0, 1]


def test_unlisted_local_nics_and_foreign_macs(emulator):
    scenario = scenarios.generate(3, 1)
    ec2 = provider_for(emulator, scenario)
    ec2.detect()
    instance = ec2.get_config(MACS)
    assert instance.unmatched == ("02:00:00:00:00:03",)


def test_a_mac_listed_twice_is_left_alone_the_others_configured(emulator):
    scenario = scenarios.generate(2, 2)
    scenario["interfaces"].append(dict(scenario["interfaces"][0]))
    ec2 = provider_for(emulator, scenario)
    ec2.detect()
    first, second = ec2.get_config(MACS).interfaces
    assert "duplicate MAC address 02:00:00:00:00:01" in first.error
    assert second.valid and second.index == 1


def test_duplicate_device_numbers_leave_the_later_nic_alone(emulator):
    scenario = scenarios.generate(2, 2)
    scenario["interfaces"][1]["device_number"] = 0  # hot-plugged, reads 0 for a moment
    ec2 = provider_for(emulator, scenario)
    ec2.detect()
    first, second = ec2.get_config(MACS).interfaces
    assert first.valid and first.index == 0
    assert "also that of 02:00:00:00:00:01" in second.error


@pytest.mark.parametrize("body", ["", "<html>garbage</html>", "\x00\x01\x02"])
def test_garbled_listing_fails_the_whole_fetch(emulator, body):
    ec2 = provider_for(emulator)
    ec2.detect()
    with emulator.state.lock:
        emulator.state.rules = [{"match": "interfaces/macs/", "status": 200, "body": body}]
    with pytest.raises(CloudSetupError):
        ec2.get_config(MACS)


def test_not_ec2(emulator):
    with emulator.state.lock:
        emulator.state.rules = [{"match": "/", "status": 404}]
    with pytest.raises(CloudSetupError):
        provider_for(emulator).detect()


def multi_card_scenario():
    """p5-like: the primary and a second NIC on card 0, two NICs on card 1 whose
    device-numbers (0, 1) repeat card 0's."""
    scenario = scenarios.generate(4, 1)
    for iface, (card, number) in zip(scenario["interfaces"], [(0, 0), (0, 1), (1, 0), (1, 1)]):
        iface.update(network_card=card, device_number=number)
    return scenario


MACS4 = {f"02:00:00:00:00:0{n}": f"eth{n}" for n in range(1, 5)}


def test_multi_card_nics_share_device_numbers_and_get_tables_of_their_own(emulator):
    ec2 = provider_for(emulator, multi_card_scenario())
    ec2.detect()
    instance = ec2.get_config(MACS4)
    assert [(i.card, i.index, i.error) for i in instance.interfaces] == [
        (0, 0, None), (0, 1, None), (1, 0, None), (1, 1, None)]
    assert emulator.state.requests == 2 + 5 * 4  # network-card of every NIC


def test_single_card_instance_asks_network_card_once(emulator):
    ec2 = provider_for(emulator, scenarios.generate(4, 1))
    ec2.detect()
    instance = ec2.get_config(MACS4)
    assert [(i.card, i.index) for i in instance.interfaces] == [(0, n) for n in range(4)]
    assert emulator.state.requests == 2 + 4 * 4 + 1


def test_a_card_beyond_the_layout_fails_its_nic_only(emulator):
    scenario = multi_card_scenario()
    scenario["interfaces"][3]["network_card"] = 64
    ec2 = provider_for(emulator, scenario)
    ec2.detect()
    instance = ec2.get_config(MACS4)
    assert [i.error is None for i in instance.interfaces] == [True, True, True, False]
    assert "network-card 64" in instance.interfaces[3].error


def test_without_device_numbers_cards_are_not_asked(emulator):
    """Upstream's list positions are unique across cards already."""
    scenario = multi_card_scenario()
    for iface in scenario["interfaces"]:
        del iface["device_number"]
    ec2 = provider_for(emulator, scenario)
    ec2.detect()
    instance = ec2.get_config(MACS4)
    assert [(i.card, i.index) for i in instance.interfaces] == [(0, n) for n in range(4)]
