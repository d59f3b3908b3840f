"""``status`` shows who the instance is, for every provider, from its own metadata keys;
the timer's run makes none of those requests."""

from __future__ import annotations

import json

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.shapes.instance import instance
from nm_cloud_setup.shapes.openstack import instance_uuid
from tests.support.vm import run_tool

pytestmark = pytest.mark.root

# A timer run's requests for 2 NICs (1 IPv4 each): unchanged by status support.
# EC2: 2+4N+1, and the IPv6 subnet of the NIC that has IPv6 (scenario below).
RUN_REQUESTS = {"ec2": 12, "azure": 1, "gcp": 1, "aliyun": 2, "oci": 1, "openstack": 1,
                "digitalocean": 1, "hetzner": 1}
# What each provider's metadata has: (id, type, region, zone, hostname, per-NIC public
# IPv4, per-NIC public IPv6, instance-wide public IPv4).
HAS = {
    "ec2": (1, 1, 1, 1, 1, 1, 1, 0),
    "azure": (1, 1, 1, 1, 1, 1, 0, 0),
    "gcp": (1, 1, 1, 1, 1, 1, 1, 0),
    "aliyun": (1, 1, 1, 1, 1, 0, 0, 1),
    "oci": (1, 1, 1, 1, 1, 0, 0, 0),
    "openstack": (1, 0, 0, 1, 1, 0, 0, 0),
    "digitalocean": (1, 0, 1, 0, 1, 1, 1, 1),
    "hetzner": (1, 0, 1, 1, 1, 0, 0, 1),
}
FIELDS = ("instance_id", "instance_type", "region", "zone", "hostname")


def identity_scenario():
    scenario = scenarios.generate(2, 1)
    scenario.update(instance_id="4242", hostname="web-1", instance_type="big.2",
                    region="eu-north-9", availability_zone="eu-north-9b",
                    public_ipv4="198.51.100.7")
    first = scenario["interfaces"][0]
    first.update(public_ipv4="203.0.113.10", public_ipv6="2001:db8::10",
                 ipv6s=["2001:db8::10"], type="public")
    return scenario


def expected(provider):
    region, zone = "eu-north-9", "eu-north-9b"
    if provider == "gcp":  # the region is the zone less its last part
        region = "eu-north"
    instance_id = "4242"
    if provider == "openstack":  # a UUID made from the scenario's ID (shapes/openstack.py)
        instance_id = instance_uuid(instance(identity_scenario()))
    values = {"instance_id": instance_id, "instance_type": "big.2", "region": region,
              "zone": zone, "hostname": "web-1"}
    return {field: values[field] if has else None
            for field, has in zip(FIELDS, HAS[provider])}


def nic_public(provider):
    has = HAS[provider]
    # DigitalOcean's public NIC's own address is its public IPv4
    v4 = ["172.31.16.10" if provider == "digitalocean" else "203.0.113.10"] if has[5] else []
    return v4, ["2001:db8::10"] if has[6] else []


@pytest.mark.parametrize("provider", sorted(RUN_REQUESTS))
def test_status_identity_for_every_provider(nm_sandbox, make_emulator, tmp_path, provider):
    emulator = make_emulator(provider, identity_scenario())
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("QEMU\n")

    timer = run_tool(nm_sandbox, emulator.url, provider=provider,
                     extra={"NM_CLOUD_SETUP_DMI_DIR": str(dmi)})
    assert timer.returncode == 0, timer.stdout + timer.stderr
    assert emulator.state.requests == RUN_REQUESTS[provider]

    text = run_tool(nm_sandbox, emulator.url, provider=provider, args=["status"],
                    extra={"NM_CLOUD_SETUP_DMI_DIR": str(dmi)})
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"provider: {'GCP' if provider == 'gcp' else provider}, backend: nm"
    assert lines[1] == 'dmi: names no cloud (sys_vendor="QEMU")'
    want = expected(provider)
    labels = {"instance_id": "id", "instance_type": "type", "region": "region",
              "zone": "zone", "hostname": "hostname"}
    shown = ", ".join(f"{labels[f]} {v}" for f, v in want.items() if v)
    assert lines[2] == f"instance: {shown}"
    v4, v6 = nic_public(provider)
    if v4 or v6:
        assert f"  public:   {' '.join(v4 + v6)}" in lines
    if HAS[provider][7]:
        assert "public IPv4 (instance): 198.51.100.7" in lines

    report = json.loads(run_tool(nm_sandbox, emulator.url, provider=provider,
                                 args=["status", "--json"],
                                 extra={"NM_CLOUD_SETUP_DMI_DIR": str(dmi)}).stdout)
    assert {f: report["identity"][f] for f in FIELDS} == want
    assert report["identity"]["public_ipv4"] == (["198.51.100.7"] if HAS[provider][7] else [])
    assert report["dmi"]["sys_vendor"] == "QEMU" and report["dmi"]["cloud"] is None
    assert report["devices"][0]["public"] == {"ipv4": v4, "ipv6": v6}
    assert report["identity_error"] is None


def test_status_names_the_dmi_cloud_and_survives_an_identity_failure(nm_sandbox, make_emulator,
                                                                     tmp_path):
    emulator = make_emulator("oci", identity_scenario())
    (tmp_path / "chassis_asset_tag").write_text("OracleCloud.com\n")
    with emulator.state.lock:
        emulator.state.rules = [{"match": "/opc/v2/instance", "status": 500}]
    result = run_tool(nm_sandbox, emulator.url, provider="oci", args=["status"],
                      extra={"NM_CLOUD_SETUP_DMI_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == 'dmi: names oci (chassis_asset_tag="OracleCloud.com")'
    assert lines[2].startswith("instance: unknown (") and "HTTP 500" in lines[2]
