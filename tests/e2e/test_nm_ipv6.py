"""IPv6 end to end: emulator -> nm-cloud-setup -> a real NetworkManager, both daemons.

Debian 12's 1.42 and Debian 13's 1.52 differ in what a Reapply keeps of a
device's IPv6 (docs/backends.md, "Reapply and IPv6"); every test here runs on both and
checks both families in the kernel after every run: the profile's own IPv6
primary, the link-local address and the main table's IPv6 default route too.
"""

from __future__ import annotations

import pytest

from harness.kernel_view import local_routes, policy_routes, policy_rules
from harness.nm_applied import applied
from harness.nm_read import profiles_on_disk
from harness.sandbox import run
from nm_cloud_setup.emulator import scenario as scenarios
from tests.support.layout import assert_layout, expected_layout6, ifnames
from tests.support.nm_daemons import BOTH_DAEMONS
from tests.support.scenarios import set_scenario
from tests.support.vm import run_tool

pytestmark = [pytest.mark.root, BOTH_DAEMONS]

V4 = {"eth1": ["172.31.16.10/20", "172.31.16.11/20", "172.31.16.12/20"],
      "eth2": ["172.31.32.10/20", "172.31.32.11/20", "172.31.32.12/20"]}
V6 = {"eth1": ["2600:1f18:aaaa:bb01::10/64", "2600:1f18:aaaa:bb01::11/64"],
      "eth2": ["2600:1f18:aaaa:bb02::10/64", "2600:1f18:aaaa:bb02::11/64"]}


def dual_stack():
    """EC2, 2 NICs x (3 IPv4 + 2 IPv6); the first of each is the NIC's DHCP(v6) primary."""
    return scenarios.generate(2, 3, ipv6s=2)


def both_families(sandbox):
    """Everything the tests compare: addresses (global and link-local), rules and routes
    of both families, and the main table's IPv6 default routes."""
    defaults6 = sorted((r.get("gateway"), r["dev"]) for r in sandbox.routes6()
                       if r["dst"] == "default" and "table" not in r)
    return ({n.ifname: (sandbox.addresses(n.ifname), sandbox.addresses6(n.ifname),
                        sandbox.addresses6(n.ifname, "link")) for n in sandbox.nics},
            policy_rules(sandbox), policy_routes(sandbox), policy_rules(sandbox, 6),
            policy_routes(sandbox, 6), defaults6)


def assert_ipv6_basics_intact(sandbox):
    """What the profile and DHCPv6/the link gave each NIC is still there."""
    for nic in sandbox.nics:
        assert f"{nic.ipv6_address}/64" in sandbox.addresses6(nic.ifname) or \
            f"{nic.ipv6_address}/128" in sandbox.addresses6(nic.ifname), nic.ifname
        assert sandbox.addresses6(nic.ifname, "link"), f"{nic.ifname} lost its link-local"


@pytest.fixture(params=["manual", "auto"], ids=["static-primary", "dhcpv6"])
def dual_sandbox(nm_sandbox_session, request):
    """Profiles with IPv6: the primary static in the profile, or from DHCPv6 + RA."""
    nm_sandbox_session.reset_profiles(ipv6=request.param)
    return nm_sandbox_session


@pytest.fixture
def static_sandbox(nm_sandbox_session):
    nm_sandbox_session.reset_profiles(ipv6="manual")
    return nm_sandbox_session


def test_dual_stack_gets_both_layouts_and_keeps_the_profiles_ipv6(dual_sandbox, emulator):
    set_scenario(emulator, dual_stack())
    disk_before = profiles_on_disk(dual_sandbox)
    link_local = {n.ifname: dual_sandbox.addresses6(n.ifname, "link") for n in dual_sandbox.nics}

    result = run_tool(dual_sandbox, emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    for ifname in ("eth1", "eth2"):
        assert dual_sandbox.addresses(ifname) == V4[ifname]
        assert dual_sandbox.addresses6(ifname) == V6[ifname]
        assert dual_sandbox.addresses6(ifname, "link") == link_local[ifname]
    assert_layout(dual_sandbox, emulator.state.scenario["interfaces"])
    state = applied(dual_sandbox)
    assert sorted(state["eth2"].ipv6.addresses) == V6["eth2"]
    assert len(state["eth2"].ipv6.rules) == 5
    assert all(dict((k, (sig, v)) for k, sig, v in rule)["family"] == ("i", 10)
               for rule in state["eth2"].ipv6.rules)
    assert profiles_on_disk(dual_sandbox) == disk_before


def test_second_run_changes_nothing_and_calls_no_reapply(static_sandbox, emulator):
    set_scenario(emulator, dual_stack())
    assert run_tool(static_sandbox, emulator.url).returncode == 0
    before = (both_families(static_sandbox), applied(static_sandbox))

    result = run_tool(static_sandbox, emulator.url)

    assert result.returncode == 0, result.stderr
    assert "reapply connection" not in result.stdout
    assert (both_families(static_sandbox), applied(static_sandbox)) == before


def test_removed_ipv6_address_disappears_with_its_rules(static_sandbox, emulator):
    scenario = dual_stack()
    set_scenario(emulator, scenario)
    assert run_tool(static_sandbox, emulator.url).returncode == 0
    scenario["interfaces"][1]["ipv6s"].remove("2600:1f18:aaaa:bb02::11")
    set_scenario(emulator, scenario)

    assert run_tool(static_sandbox, emulator.url).returncode == 0

    assert static_sandbox.addresses6("eth2") == ["2600:1f18:aaaa:bb02::10/64"]
    assert not any(src == "2600:1f18:aaaa:bb02::11" for _, src, _ in
                   policy_rules(static_sandbox, 6))
    assert_layout(static_sandbox, scenario["interfaces"])
    assert static_sandbox.addresses("eth2") == V4["eth2"]


def test_a_resized_subnet_leaves_no_route_behind(dual_sandbox, emulator):
    """Found by the soak: NetworkManager before 1.52 reapplies without
    preserve-external-ip here, and then forgets the routes it had put in tables other
    than main; the old subnet's route in table 30200 stayed (docs/backends.md)."""
    scenario = dual_stack()
    set_scenario(emulator, scenario)
    assert run_tool(dual_sandbox, emulator.url).returncode == 0
    scenario["interfaces"][0]["subnet"] = "172.31.16.0/22"
    set_scenario(emulator, scenario)

    result = run_tool(dual_sandbox, emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    routes = run("ip", "-n", dual_sandbox.host_ns, "-4", "route", "show", "table", "30200",
                 check=False).stdout
    assert "172.31.16.0/22" in routes and "172.31.16.0/20" not in routes, routes
    assert_layout(dual_sandbox, scenario["interfaces"])
    assert_ipv6_basics_intact(dual_sandbox)


def test_an_ipv4_only_change_keeps_every_ipv6_address(dual_sandbox, emulator):
    """The case that loses IPv6 on 1.42 with upstream's Reapply flag."""
    scenario = dual_stack()
    set_scenario(emulator, scenario)
    assert run_tool(dual_sandbox, emulator.url).returncode == 0
    v6_before = (policy_rules(dual_sandbox, 6), policy_routes(dual_sandbox, 6),
                 [dual_sandbox.addresses6(n.ifname) for n in dual_sandbox.nics])
    scenario["interfaces"][0]["addresses"].remove("172.31.16.12")
    set_scenario(emulator, scenario)

    result = run_tool(dual_sandbox, emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("reapply connection") == 1  # eth1 only
    assert dual_sandbox.addresses("eth1") == V4["eth1"][:2]
    assert (policy_rules(dual_sandbox, 6), policy_routes(dual_sandbox, 6),
            [dual_sandbox.addresses6(n.ifname) for n in dual_sandbox.nics]) == v6_before
    assert_ipv6_basics_intact(dual_sandbox)
    assert any(r["dst"] == "default" and r["dev"] == "eth1" and "table" not in r
               for r in dual_sandbox.routes6())


def test_ipv6_only_nic_gets_its_ipv6_part_without_error(static_sandbox, emulator):
    scenario = dual_stack()
    scenario["interfaces"][1]["addresses"] = []  # EC2 answers 404 for local-ipv4s
    set_scenario(emulator, scenario)

    result = run_tool(static_sandbox, emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert static_sandbox.addresses("eth2") == ["172.31.32.10/20"]  # its DHCP address only
    assert static_sandbox.addresses6("eth2") == V6["eth2"]
    assert static_sandbox.addresses("eth1") == V4["eth1"]
    assert_layout(static_sandbox, scenario["interfaces"])
    assert not any(table.endswith("1") for table, *_ in policy_routes(static_sandbox))


def test_profile_with_ipv6_ignored_gets_only_its_ipv4_change(nm_sandbox_session, emulator):
    sandbox = nm_sandbox_session
    sandbox.reset_profiles(ipv6="ignore")
    for nic in sandbox.nics:  # IPv6 as the system left it (an earlier profile disabled it)
        run("ip", "netns", "exec", sandbox.host_ns, "sysctl", "-qw",
            f"net.ipv6.conf.{nic.ifname}.disable_ipv6=0")
    run("ip", "-n", sandbox.host_ns, "-6", "addr", "add", "2001:db8:99::1/128", "dev", "eth1",
        "nodad")  # someone else's IPv6, which NetworkManager ignores too
    set_scenario(emulator, dual_stack())
    ipv6_before = [(sandbox.addresses6(n.ifname), sandbox.addresses6(n.ifname, "link"))
                   for n in sandbox.nics]

    result = run_tool(sandbox, emulator.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert sandbox.addresses("eth1") == V4["eth1"] and sandbox.addresses("eth2") == V4["eth2"]
    assert [(sandbox.addresses6(n.ifname), sandbox.addresses6(n.ifname, "link"))
            for n in sandbox.nics] == ipv6_before
    assert policy_rules(sandbox, 6) == set() and policy_routes(sandbox, 6) == set()
    for mac in ("02:00:00:00:00:01", "02:00:00:00:00:02"):
        assert result.stdout.count(f"config device {mac}: IPv6 left as it is: "
                                   "ipv6.method is ignore") == 1
    again = run_tool(sandbox, emulator.url)
    assert "reapply connection" not in again.stdout


@pytest.mark.parametrize("provider", ["oci", "azure", "openstack"])
def test_other_providers_with_their_ipv6_gateways(static_sandbox, make_emulator, provider):
    scenario = dual_stack()
    for iface in scenario["interfaces"]:
        if provider == "oci":  # one IPv4 per VNIC; the router is link-local
            iface.update(addresses=iface["addresses"][:1], ipv6_gateway="fe80::200:17ff:fe00:1")
        elif provider == "azure":  # the fixed router of every Azure subnet
            iface["ipv6_gateway"] = "fe80::1234:5678:9abc"
        else:
            iface["ipv6_gateway"] = iface["ipv6_subnet"].replace("::/64", "::fe")
            iface["routes"] = [{"network": "2001:db8:77::/48",
                                "gateway": iface["ipv6_subnet"].replace("::/64", "::fd")}]
    emulator = make_emulator(provider, scenario)

    result = run_tool(static_sandbox, emulator.url, provider=provider)

    assert result.returncode == 0, result.stdout + result.stderr
    for ifname in ("eth1", "eth2"):
        assert static_sandbox.addresses6(ifname) == V6[ifname]
    expected = [dict(i, routes=[]) for i in scenario["interfaces"]]
    rules6, routes6 = expected_layout6(expected, ifnames(static_sandbox))
    assert policy_rules(static_sandbox, 6) == rules6
    if provider == "openstack":
        routes6 |= {("30400", "2001:db8:77::/48", "2600:1f18:aaaa:bb01::fd", "eth1", 10),
                    ("30401", "2001:db8:77::/48", "2600:1f18:aaaa:bb02::fd", "eth2", 10)}
    assert policy_routes(static_sandbox, 6) == routes6
    assert "reapply connection" not in run_tool(static_sandbox, emulator.url,
                                                provider=provider).stdout


def test_gcp_forwarded_ipv6_ranges_come_and_go(static_sandbox, make_emulator):
    scenario = scenarios.generate(2, 1, ipv6s=1)
    scenario["interfaces"][1].update(forwarded_ips=["35.1.2.3"],
                                     forwarded_ipv6s=["2600:1900:4010:61::/96",
                                                      "2600:1900:4010:62::/96"])
    emulator = make_emulator("gcp", scenario)

    assert run_tool(static_sandbox, emulator.url, provider="gcp").returncode == 0
    assert local_routes(static_sandbox, 6) == {("2600:1900:4010:61::/96", "eth2"),
                                               ("2600:1900:4010:62::/96", "eth2")}
    assert local_routes(static_sandbox) == {("35.1.2.3/32", "eth2")}

    scenario["interfaces"][1]["forwarded_ipv6s"] = ["2600:1900:4010:62::/96"]
    set_scenario(emulator, scenario)
    assert run_tool(static_sandbox, emulator.url, provider="gcp").returncode == 0
    assert local_routes(static_sandbox, 6) == {("2600:1900:4010:62::/96", "eth2")}
    assert local_routes(static_sandbox) == {("35.1.2.3/32", "eth2")}
    assert_ipv6_basics_intact(static_sandbox)


def test_ec2_delegated_prefixes_only_when_asked_for(static_sandbox, emulator):
    scenario = dual_stack()
    scenario["interfaces"][0].update(ipv4_prefixes=["172.31.17.0/28"],
                                     ipv6_prefixes=["2600:1f18:aaaa:bb01:5::/80"])
    set_scenario(emulator, scenario)

    assert run_tool(static_sandbox, emulator.url).returncode == 0
    assert local_routes(static_sandbox) == set() and local_routes(static_sandbox, 6) == set()

    result = run_tool(static_sandbox, emulator.url, extra={"NM_CLOUD_SETUP_EC2_PREFIXES": "yes"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert local_routes(static_sandbox) == {("172.31.17.0/28", "eth1")}
    assert local_routes(static_sandbox, 6) == {("2600:1f18:aaaa:bb01:5::/80", "eth1")}


def test_dry_run_and_status_show_both_families(static_sandbox, emulator):
    import json

    set_scenario(emulator, dual_stack())
    dry = run_tool(static_sandbox, emulator.url, args=["--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "+ipv6.addresses 2600:1f18:aaaa:bb01::11/64" in dry.stdout
    assert ("+ipv6.routes '2600:1f18:aaaa:bb01::/64 10 table=30200, "
            "::/0 2600:1f18:aaaa:bb01::1 10 table=30400'") in dry.stdout
    assert "+ipv6.routing-rules 'priority 30200 from 2600:1f18:aaaa:bb01::10/128 table 30200" \
        in dry.stdout
    assert policy_rules(static_sandbox, 6) == set()  # nothing changed

    assert run_tool(static_sandbox, emulator.url).returncode == 0
    status = run_tool(static_sandbox, emulator.url, args=["status", "--json"])
    (eth1,) = [d for d in json.loads(status.stdout)["devices"] if d["interface"] == "eth1"]
    assert eth1["in_sync"] and eth1["applied"]["ipv6"]["addresses"] == V6["eth1"]
    assert eth1["metadata"]["ipv6_subnet"] == "2600:1f18:aaaa:bb01::/64"
    text = run_tool(static_sandbox, emulator.url, args=["status"]).stdout
    assert ("metadata: 172.31.16.10 172.31.16.11 172.31.16.12 in 172.31.16.0/20 "
            "2600:1f18:aaaa:bb01::10 2600:1f18:aaaa:bb01::11 in 2600:1f18:aaaa:bb01::/64") in text
