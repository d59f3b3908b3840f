"""The emulator serves IPv6 in every cloud's shape: each provider reads back exactly the
scenario's IPv6 data, from the one-request documents and from the text walks."""

from __future__ import annotations

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from nm_cloud_setup.providers.registry import provider_class

MACS = {"02:00:00:00:00:01": "eth1", "02:00:00:00:00:02": "eth2"}


def scenario_for(provider: str, bulk: bool = True) -> dict:
    scenario = scenarios.generate(2, 2, ipv6s=2)
    scenario["interfaces"][1]["ipv6_gateway"] = "2600:1f18:aaaa:bb02::fe"
    scenario["interfaces"][0]["forwarded_ipv6s"] = ["2600:1900:4010:61::/96"]
    scenario[provider] = {"bulk": bulk}
    return scenario


@pytest.mark.parametrize("provider, bulk", [
    ("ec2", True), ("azure", True), ("azure", False), ("gcp", True), ("gcp", False),
    ("aliyun", True), ("aliyun", False), ("oci", True), ("openstack", True)])
def test_each_provider_reads_the_emulated_ipv6_back(make_emulator, provider, bulk):
    scenario = scenario_for(provider, bulk)
    emulator = make_emulator(provider, scenario)
    cls = provider_class(provider)
    client = HttpClient(emulator.url, headers=cls.headers, policy=RetryPolicy(attempts=3),
                        rate=cls.rate)
    instance_provider = cls(client, {})
    instance_provider.detect()
    instance = instance_provider.get_config(MACS)

    assert not instance.failed
    assert [i.mac for i in instance.interfaces] == list(MACS)
    for nic, got in zip(scenario["interfaces"], instance.interfaces):
        want = expected(provider, bulk, nic)
        assert (got.ipv6_addresses, got.ipv6_subnet, got.ipv6_gateway) == want[:3], got.mac
        assert {r for r in got.local_routes if ":" in r} == want[3], got.mac


def expected(provider: str, bulk: bool, nic: dict) -> tuple:
    """(addresses, subnet, gateway, IPv6 local routes) of one NIC, from the scenario."""
    if provider == "gcp":  # one IPv6 per NIC (DHCPv6); forwarded ranges as local routes;
        # the walk, as upstream's, reads forwarded IPv4s only
        if not bulk:
            return (), None, None, set()
        return (nic["ipv6s"][0],), None, None, set(nic.get("forwarded_ipv6s", ()))
    subnet = nic["ipv6_subnet"]
    gateway = nic.get("ipv6_gateway", subnet.replace("::/64", "::1"))  # the first host
    # EC2 names no IPv6 gateway (router advertisements do); Azure's is a fixed link-local
    gateway = {"ec2": None, "azure": "fe80::1234:5678:9abc"}.get(provider, gateway)
    return tuple(nic["ipv6s"]), subnet, gateway, set()
