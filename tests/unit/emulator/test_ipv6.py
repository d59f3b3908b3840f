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
    first, second = instance.interfaces
    if provider == "gcp":  # one IPv6 per NIC (DHCPv6); forwarded ranges as local routes;
        # the walk, as upstream's, reads forwarded IPv4s only
        assert first.ipv6_addresses == (("2600:1f18:aaaa:bb01::10",) if bulk else ())
        assert ("2600:1900:4010:61::/96" in first.local_routes) is bulk
        return
    assert second.ipv6_addresses == ("2600:1f18:aaaa:bb02::10", "2600:1f18:aaaa:bb02::11")
    assert second.ipv6_subnet == "2600:1f18:aaaa:bb02::/64"
    expected_gateway = {"ec2": None, "azure": "fe80::1234:5678:9abc"}.get(
        provider, "2600:1f18:aaaa:bb02::fe")
    assert second.ipv6_gateway == expected_gateway
