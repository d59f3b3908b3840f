"""DigitalOcean and Hetzner end to end: emulated API -> nm-cloud-setup -> a real NetworkManager."""

from __future__ import annotations

import json

import pytest

from harness.kernel_view import kernel_state, policy_routes, policy_rules
from harness.nm_applied import applied
from harness.sandbox import run
from nm_cloud_setup.emulator import scenario as scenarios
from tests.support.layout import expected_layout, ifnames
from tests.support.vm import run_tool

pytestmark = pytest.mark.root

ANCHOR = {"address": "10.17.0.5", "subnet": "10.17.0.0/16", "gateway": "10.17.0.1"}


def digitalocean_scenario():
    """eth1: the public NIC with its anchor address; eth2: a private (VPC) NIC."""
    scenario = scenarios.generate(2, 1)
    scenario["interfaces"][0].update(type="public", anchor_ipv4=dict(ANCHOR))
    scenario["interfaces"][1]["type"] = "private"
    return scenario


def route_get(sandbox, source: str) -> str:
    """Where the kernel sends a packet to the internet from ``source``."""
    out = run("ip", "-n", sandbox.host_ns, "-4", "route", "get", "192.0.2.99", "from", source)
    return out.stdout.split("\n")[0]


def test_digitalocean_anchor_subnet_on_the_public_nic_and_a_private_nic(nm_sandbox,
                                                                          make_emulator):
    emulator = make_emulator("digitalocean", digitalocean_scenario())

    result = run_tool(nm_sandbox, emulator.url, provider="digitalocean")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "provider digitalocean detected" in result.stdout
    assert emulator.state.requests == 1  # /metadata/v1.json, fetched while detecting
    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "10.17.0.5/16"]
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20"]
    assert policy_rules(nm_sandbox) == {
        (30200, "172.31.16.10", "30200"), (30200, "10.17.0.5", "30200"),
        (30400, "172.31.16.10", "30400"), (30500, "10.17.0.5", "30500"),
        (30201, "172.31.32.10", "30201"), (30401, "172.31.32.10", "30401"),
        (30350, "all", "main suppress_prefixlength 0")}
    assert policy_routes(nm_sandbox) == {
        ("30200", "172.31.16.0/20", "", "eth1", 10), ("30200", "10.17.0.0/16", "", "eth1", 10),
        ("30400", "default", "172.31.16.1", "eth1", 10),
        ("30500", "default", "10.17.0.1", "eth1", 10),
        ("30201", "172.31.32.0/20", "", "eth2", 10),
        ("30401", "default", "172.31.32.1", "eth2", 10)}
    # Each address leaves through its own subnet's gateway.
    assert "via 10.17.0.1 dev eth1" in route_get(nm_sandbox, "10.17.0.5")
    assert "via 172.31.16.1 dev eth1" in route_get(nm_sandbox, "172.31.16.10")

    before = (kernel_state(nm_sandbox), applied(nm_sandbox))
    again = run_tool(nm_sandbox, emulator.url, provider="digitalocean")
    assert again.returncode == 0 and "reapply connection" not in again.stdout, again.stdout
    assert again.stdout.count("device needs no update") == 2
    assert (kernel_state(nm_sandbox), applied(nm_sandbox)) == before


def test_digitalocean_anchor_removed_goes_with_its_table(nm_sandbox, make_emulator):
    emulator = make_emulator("digitalocean", digitalocean_scenario())
    assert run_tool(nm_sandbox, emulator.url, provider="digitalocean").returncode == 0
    scenario = digitalocean_scenario()
    del scenario["interfaces"][0]["anchor_ipv4"]
    with emulator.state.lock:
        emulator.state.scenario = scenario

    assert run_tool(nm_sandbox, emulator.url, provider="digitalocean").returncode == 0

    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20"]
    assert not any(table == "30500" for _, _, table in policy_rules(nm_sandbox))
    assert not any(route[0] == "30500" or route[1] == "10.17.0.0/16"
                   for route in policy_routes(nm_sandbox))


def hetzner_scenario():
    """Two private networks (interface_num 1 and 2), each with its IP and two alias IPs."""
    return scenarios.generate(2, 3)


def test_hetzner_two_private_networks_with_alias_ips(nm_sandbox, make_emulator):
    emulator = make_emulator("hetzner", hetzner_scenario())

    result = run_tool(nm_sandbox, emulator.url, provider="hetzner")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "provider hetzner detected" in result.stdout
    assert emulator.state.requests == 1
    assert list(emulator.state.paths) == ["/hetzner/v1/metadata/private-networks"]
    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                            "172.31.16.12/20"]
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                            "172.31.32.12/20"]
    # The table index is interface_num (the public NIC, not listed, is 0).
    by_interface_num = [dict(i, device_number=n + 1)
                        for n, i in enumerate(emulator.state.scenario["interfaces"])]
    rules, routes = expected_layout(by_interface_num, ifnames(nm_sandbox))
    assert policy_rules(nm_sandbox) == rules
    assert policy_routes(nm_sandbox) == routes
    assert ("30402", "default", "172.31.32.1", "eth2", 10) in routes

    before = (kernel_state(nm_sandbox), applied(nm_sandbox))
    again = run_tool(nm_sandbox, emulator.url, provider="hetzner")
    assert again.returncode == 0 and "reapply connection" not in again.stdout, again.stdout
    assert (kernel_state(nm_sandbox), applied(nm_sandbox)) == before


@pytest.mark.parametrize("provider, match, body, message", [
    ("hetzner", "private-networks", "- ip: [10.0.0.2\n  alias_ips: {",
     "private-networks is not valid YAML"),
    ("digitalocean", "v1.json", '{"droplet_id": 1, "interfaces": ',
     "the DigitalOcean metadata document is not valid JSON"),
    ("digitalocean", "v1.json", '{"interfaces": {"public": [{"mac": "02:00:00:00:00:01", '
     '"ipv4": {"ip_address": "172.31.16.10", "netmask": "255.0.255.0"}}]}}',
     "invalid IPv4 netmask '255.0.255.0'"),
])
def test_a_garbled_document_loses_nothing(nm_sandbox, make_emulator, provider, match, body,
                                          message):
    scenario = hetzner_scenario() if provider == "hetzner" else digitalocean_scenario()
    emulator = make_emulator(provider, scenario)
    assert run_tool(nm_sandbox, emulator.url, provider=provider).returncode == 0
    before = kernel_state(nm_sandbox)
    with emulator.state.lock:
        emulator.state.rules = [{"match": match, "status": 200, "body": body}]

    result = run_tool(nm_sandbox, emulator.url, provider=provider)

    assert result.returncode == 1, result.stdout
    assert message in result.stderr, result.stderr
    assert kernel_state(nm_sandbox) == before


def test_digitalocean_ipv6_reaches_the_model(nm_sandbox, make_emulator):
    """The public NIC's IPv6 is parsed into the NIC's IPv6 fields (status shows them);
    the IPv6 layout itself belongs to the planner's IPv6 support."""
    scenario = digitalocean_scenario()
    scenario["interfaces"][0].update(ipv6s=["2001:db8:800:10::17d:2001"],
                                     ipv6_subnet="2001:db8:800:10::/64")
    emulator = make_emulator("digitalocean", scenario)
    result = run_tool(nm_sandbox, emulator.url, provider="digitalocean",
                      args=["status", "--json"])
    assert result.returncode == 0, result.stderr
    device = json.loads(result.stdout)["devices"][0]
    assert device["metadata"]["ipv6_addresses"] == ["2001:db8:800:10::17d:2001"]
    assert device["metadata"]["ipv6_gateway"] == "2001:db8:800:10::1"
    assert device["public"]["ipv6"] == ["2001:db8:800:10::17d:2001"]
