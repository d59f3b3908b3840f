"""The identity each cloud's ``status`` shows, fetched from the emulator (providers/identity.py):
what is found, and exactly what is asked, after the network configuration's run."""

from __future__ import annotations

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.openstack import write_config_drive
from nm_cloud_setup.errors import HttpError
from nm_cloud_setup.model import Identity, NicIdentity
from nm_cloud_setup.providers import identity, openstack
from nm_cloud_setup.providers.http import HttpClient, RetryPolicy
from nm_cloud_setup.providers.registry import provider_class
from nm_cloud_setup.shapes.instance import instance as shaped
from nm_cloud_setup.shapes.openstack import instance_uuid

ETH1, ETH2 = "06:AB:CD:00:00:01", "06:AB:CD:00:00:02"  # EC2's paths: in lower case
MACS = {ETH1: "eth1", ETH2: "eth2"}
KEYS = dict(instance_id="i-0abc", instance_type="t-1", region="europe-west1",
            zone="europe-west1-b", hostname="web-1")


def scenario(**extra) -> dict:
    """Two NICs; the first with two public IPv4 addresses, one public IPv6 one and an
    IPv6 address (EC2's are public); an instance-wide public address (Aliyun's EIP)."""
    result = scenarios.generate(2, 1)
    for nic, mac in zip(result["interfaces"], (ETH1, ETH2)):
        nic["mac"] = mac.lower()
    result.update(instance_id="i-0abc", instance_type="t-1", region="europe-west1",
                  availability_zone="europe-west1-b", hostname="web-1",
                  public_ipv4="198.51.100.7")
    result.update(extra)
    result["interfaces"][0].update(public_ipv4=["203.0.113.1", "203.0.113.2"],
                                   public_ipv6=["2001:db8::1"],
                                   ipv6s=["2600:1f18:aaaa:bb01::10"])
    return result


def configured(make_emulator, key: str, the_scenario: dict, cls=None, **options):
    """The emulator as ``key``, its provider after a run (detect, get_config), the
    instance found, and the emulator's request counts cleared."""
    emulator = make_emulator(key, the_scenario)
    cls = cls or provider_class(key)
    provider = cls(HttpClient(emulator.url, headers=cls.headers, policy=RetryPolicy(attempts=1),
                              rate=cls.rate), options)
    provider.detect()
    instance = provider.get_config(MACS)
    with emulator.state.lock:
        emulator.state.requests, emulator.state.paths = 0, {}
    return emulator, provider, instance


EC2_NIC = "/latest/meta-data/network/interfaces/macs/06:ab:cd:00:00:0{}/{}".format
EXPECTED = {
    "ec2": (Identity(**KEYS, nics=(
        NicIdentity(ETH1, ("203.0.113.1", "203.0.113.2"), ("2600:1f18:aaaa:bb01::10",)),
        NicIdentity(ETH2))),
        ["/latest/meta-data/hostname", "/latest/meta-data/instance-id",
         "/latest/meta-data/instance-type", EC2_NIC(1, "ipv6s"), EC2_NIC(1, "public-ipv4s"),
         EC2_NIC(2, "ipv6s"), EC2_NIC(2, "public-ipv4s"),
         "/latest/meta-data/placement/availability-zone", "/latest/meta-data/placement/region"]),
    "gcp": (Identity(**KEYS, nics=(
        NicIdentity(ETH1, ("203.0.113.1", "203.0.113.2"), ("2001:db8::1",)),
        NicIdentity(ETH2))),
        [f"{identity.GCP}/{key}" for key in ("hostname", "id", "machine-type")]
        + [f"{identity.GCP}/network-interfaces/?recursive=true&alt=json", f"{identity.GCP}/zone"]),
    "aliyun": (Identity(**KEYS, public_ipv4=("198.51.100.7",)),
               [f"/latest/meta-data/{key}" for key in (
                   "eipv4", "hostname", "instance-id", "instance/instance-type", "public-ipv4",
                   "region-id", "zone-id")]),
    "azure": (Identity(**KEYS, nics=(NicIdentity(ETH1, ("203.0.113.1",)), NicIdentity(ETH2))),
              ["/metadata/instance?api-version=2021-02-01"]),
    "oci": (Identity(**KEYS), ["/opc/v2/instance/"]),  # the region: canonicalRegionName's
    "openstack": (Identity(instance_id=instance_uuid(shaped(scenario())), zone="europe-west1-b",
                           hostname="web-1"), ["/openstack/latest/meta_data.json"]),
}


@pytest.mark.parametrize("key", list(EXPECTED))
def test_each_clouds_identity_and_what_it_asks(make_emulator, monkeypatch, tmp_path, key):
    monkeypatch.setattr(openstack, "LABELS", (str(tmp_path / "config-2"),))  # no drive here
    emulator, provider, instance = configured(make_emulator, key, scenario())
    found = provider.identity(instance)
    expected, paths = EXPECTED[key]
    assert found == expected
    assert emulator.state.paths == dict.fromkeys(paths, 1)


def test_openstacks_identity_comes_from_the_config_drive(make_emulator, tmp_path):
    """The drive's ``meta_data.json`` (written when the VM was made: its old name), no
    request."""
    drive = write_config_drive(scenario(hostname="web-0"), tmp_path)
    emulator, provider, instance = configured(make_emulator, "openstack", scenario(),
                                              config_drive=str(drive))
    assert provider.identity(instance) == Identity(
        instance_id=instance_uuid(shaped(scenario())), zone="europe-west1-b", hostname="web-0")
    assert emulator.state.requests == 0


def test_gcp_without_the_one_request_form_shows_no_public_addresses(make_emulator):
    """``gcp.bulk`` false: the recursive document is refused (400); the rest is shown."""
    emulator, provider, instance = configured(make_emulator, "gcp",
                                              scenario(gcp={"bulk": False}))
    assert provider.identity(instance) == Identity(**KEYS)


class RefusingGcp(provider_class("gcp")):
    """GCP whose network-interfaces document answers ``code`` (once set: after the run)."""

    code = None

    def get(self, path: str) -> str:
        if path == identity.GCP_NICS and self.code is not None:
            raise HttpError(self.client.base_url + path, f"HTTP {self.code}", self.code)
        return super().get(path)


@pytest.mark.parametrize("code, refused", [(404, True), (403, False), (500, False)])
def test_gcp_network_interfaces_refused_or_failing(make_emulator, code, refused):
    """Refused (404, as 400): no public addresses; any other failure is the status's error."""
    _, provider, instance = configured(make_emulator, "gcp", scenario(), cls=RefusingGcp)
    provider.code = code
    if refused:
        assert provider.identity(instance) == Identity(**KEYS)
    else:
        with pytest.raises(HttpError) as raised:
            provider.identity(instance)
        assert raised.value.code == code
