"""Every provider end to end: its emulated API -> nm-cloud-setup -> a real NetworkManager."""

from __future__ import annotations

import pytest

from harness.kernel_view import kernel_state, local_routes, policy_routes, policy_rules
from harness.nm_applied import applied
from harness.vm_state import kernel_has_vlan
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.openstack import write_config_drive
from tests.support.layout import expected_layout, ifnames
from tests.support.scenarios import oci_baremetal_scenario
from tests.support.vm import run_tool

pytestmark = pytest.mark.root

THREE = ["172.31.16.10/20", "172.31.16.11/20", "172.31.16.12/20"]
# Requests of a run for 2 NICs x 3 IPs (upstream: EC2 2+2N, Azure 2+4N+one per IP,
# GCP 2+2N+one per forwarded IP, Aliyun 2+5N, OCI 2).
# EC2: 2+4N+1, its 4th key per NIC being ipv6s (a NIC with IPv6 costs one more), and
# the first NIC's network-card (404: a single-card type).
REQUESTS = {"ec2": 11, "azure": 1, "aliyun": 2, "openstack": 1}


@pytest.mark.parametrize("provider", ["ec2", "azure", "aliyun", "openstack"])
def test_full_layout_and_idempotency(nm_sandbox, make_emulator, provider):
    emulator = make_emulator(provider)
    result = run_tool(nm_sandbox, emulator.url, provider=provider)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"provider {provider} detected" in result.stdout
    assert emulator.state.requests == REQUESTS[provider]

    assert nm_sandbox.addresses("eth1") == THREE
    rules, routes = expected_layout(emulator.state.scenario["interfaces"], ifnames(nm_sandbox))
    assert policy_rules(nm_sandbox) == rules
    assert policy_routes(nm_sandbox) == routes

    before = (kernel_state(nm_sandbox), applied(nm_sandbox))
    again = run_tool(nm_sandbox, emulator.url, provider=provider)
    assert again.returncode == 0 and "reapply connection" not in again.stdout
    assert (kernel_state(nm_sandbox), applied(nm_sandbox)) == before


def test_oci_vm_one_address_per_vnic(nm_sandbox, make_emulator):
    emulator = make_emulator("oci")
    result = run_tool(nm_sandbox, emulator.url, provider="oci")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<info>  get-config: detected VM instance" in result.stdout
    assert emulator.state.requests == 1
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20"]
    one_each = [dict(i, addresses=i["addresses"][:1])
                for i in emulator.state.scenario["interfaces"]]
    rules, routes = expected_layout(one_each, ifnames(nm_sandbox))
    assert policy_rules(nm_sandbox) == rules and policy_routes(nm_sandbox) == routes
    assert "reapply connection" not in run_tool(nm_sandbox, emulator.url, provider="oci").stdout


def gcp_scenario():
    scenario = scenarios.generate(2, 1)
    scenario["interfaces"][0]["forwarded_ips"] = []  # a NIC without forwarded IPs is normal
    scenario["interfaces"][1].update(forwarded_ips=["35.1.2.3", "35.1.2.4"],
                                     target_instance_ips=["35.9.9.9"],
                                     alias_ranges=["10.100.1.0/24"])
    return scenario


def test_gcp_local_routes_and_a_nic_without_forwarded_ips(nm_sandbox, make_emulator):
    emulator = make_emulator("gcp", gcp_scenario())
    result = run_tool(nm_sandbox, emulator.url, provider="gcp")
    assert result.returncode == 0, result.stdout + result.stderr
    assert emulator.state.requests == 1
    assert "<info>  GCP interface[1]: adding forwarded-ip 35.1.2.3" in result.stdout
    assert local_routes(nm_sandbox) == {("35.1.2.3/32", "eth2"), ("35.1.2.4/32", "eth2"),
                                        ("35.9.9.9/32", "eth2"), ("10.100.1.0/24", "eth2")}
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20"]  # GCP adds no addresses
    before = (kernel_state(nm_sandbox), local_routes(nm_sandbox), applied(nm_sandbox))
    again = run_tool(nm_sandbox, emulator.url, provider="gcp")
    assert "reapply connection" not in again.stdout
    assert (kernel_state(nm_sandbox), local_routes(nm_sandbox), applied(nm_sandbox)) == before


def test_gcp_kinds_can_be_switched_off(nm_sandbox, make_emulator):
    emulator = make_emulator("gcp", gcp_scenario())
    result = run_tool(nm_sandbox, emulator.url, provider="gcp",
                      extra={"NM_CLOUD_SETUP_GCP_ALIAS_IPS": "no",
                             "NM_CLOUD_SETUP_GCP_TARGET_INSTANCE_IPS": "no"})
    assert result.returncode == 0, result.stderr
    assert local_routes(nm_sandbox) == {("35.1.2.3/32", "eth2"), ("35.1.2.4/32", "eth2")}


@pytest.mark.parametrize("provider", ["gcp", "aliyun", "azure"])
def test_text_walk_fallback(nm_sandbox, make_emulator, provider):
    scenario = gcp_scenario() if provider == "gcp" else scenarios.generate(2, 3)
    scenario[provider] = {"bulk": False}
    emulator = make_emulator(provider, scenario)
    result = run_tool(nm_sandbox, emulator.url, provider=provider)
    assert result.returncode == 0, result.stdout + result.stderr
    if provider == "gcp":
        assert ("35.1.2.4/32", "eth2") in local_routes(nm_sandbox)
    else:  # both NICs, all addresses
        assert nm_sandbox.addresses("eth1") == THREE
        assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                                "172.31.32.12/20"]


def azure_one_nic_30_ips(bulk: bool):
    scenario = scenarios.generate(1, 30)
    scenario["azure"] = {"rate": 5, "bulk": bulk}
    return scenario


@pytest.mark.parametrize("bulk", [True, False], ids=["json", "text-walk"])
def test_azure_30_ips_under_the_5_per_second_throttle(nm_sandbox, make_emulator, bulk):
    emulator = make_emulator("azure", azure_one_nic_30_ips(bulk))
    result = run_tool(nm_sandbox, emulator.url, provider="azure", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert emulator.state.throttled == 0  # not a single 429
    # The walk: the refused document and the NIC list, then per NIC its MAC, address
    # list, each address, subnet address and prefix: upstream's 2+4N+one per IP.
    # Text walk: as upstream's, and the (absent) IPv6 address list.
    assert emulator.state.requests == (1 if bulk else 2 + 4 * 1 + 30 + 1)
    assert len(nm_sandbox.addresses("eth1")) == 30, result.stdout
    assert len([r for r in policy_rules(nm_sandbox) if r[0] in (30200, 30400)]) == 60


@pytest.mark.parametrize("source", ["config-drive", "metadata-service"])
def test_openstack_sources_and_mtu(nm_sandbox, make_emulator, tmp_path, source):
    scenario = scenarios.generate(2, 2)
    scenario["interfaces"][0].update(mtu=1450, routes=[{"network": "10.50.0.0/16",
                                                        "gateway": "172.31.16.254"}])
    emulator = make_emulator("openstack", scenario)
    extra = {}
    if source == "config-drive":
        extra["NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE"] = str(write_config_drive(scenario,
                                                                                 tmp_path))
    result = run_tool(nm_sandbox, emulator.url, provider="openstack", extra=extra)
    assert result.returncode == 0, result.stdout + result.stderr
    assert emulator.state.requests == (0 if source == "config-drive" else 1)
    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20"]
    assert ("30400", "10.50.0.0/16", "172.31.16.254", "eth1", 10) in policy_routes(nm_sandbox)
    assert nm_sandbox.mtu("eth1") == 1450
    assert "reapply connection" not in run_tool(nm_sandbox, emulator.url, provider="openstack",
                                                extra=extra).stdout


def test_oci_baremetal_vlan_vnic_gets_macvlan_and_vlan_profiles(nm_sandbox, make_emulator):
    emulator = make_emulator("oci", oci_baremetal_scenario())
    vlan_supported = kernel_has_vlan()

    result = run_tool(nm_sandbox, emulator.url, provider="oci")

    assert "<info>  get-config: detected baremetal instance" in result.stdout
    # Upstream's names: after the VNIC's position (2), not its VLAN tag (100).
    assert ("creating macvlan2 connection for VLAN 100 on 02:00:00:00:00:01..."
            in result.stdout), result.stdout
    profiles = nm_sandbox.nmcli("-t", "-f", "NAME,TYPE", "connection", "show").stdout
    assert "macvlan2:macvlan" in profiles and "vlan2:vlan" in profiles, \
        result.stdout + result.stderr
    link = nm_sandbox.ip_json("link", "show", "macvlan2")[0]
    assert link["address"] == "02:00:00:00:01:00"
    # Where the kernel has 802.1Q (probed before the run), the VLAN comes up with its
    # address; a kernel without it makes the VLAN fail, and the failure is reported.
    if vlan_supported:
        assert result.returncode == 0, result.stdout + result.stderr
        assert nm_sandbox.addresses("macvlan2.100")[0].startswith("172.31.48.10/")
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "failure to activate connection vlan" in result.stderr, result.stderr
        assert not nm_sandbox.has_link("macvlan2.100")
