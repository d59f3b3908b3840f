"""The provider choice end to end: two emulated services that both answer, a DMI directory,
real runs against NetworkManager.  The winner shows in the kernel (the two scenarios differ)
and in which service was asked for the network configuration."""

from __future__ import annotations

import time

import pytest

from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.pipeline import choice
from tests.support.vm import run_tool

pytestmark = pytest.mark.root

EC2_LISTING = "/2018-09-24/meta-data/network/interfaces/macs/"


@pytest.fixture
def both(make_emulator):
    """EC2 serving 2 addresses per NIC, OpenStack serving 3 (as one OpenStack server would,
    were it not that the two APIs' data differ here so that the winner can be told)."""
    return make_emulator("ec2", scenarios.generate(2, 2)), \
        make_emulator("openstack", scenarios.generate(2, 3))


def dmi_dir(tmp_path, **values):
    for name, value in values.items():
        (tmp_path / name).write_text(value + "\n")
    return str(tmp_path)


def run_both(sandbox, ec2, openstack, dmi):
    return run_tool(sandbox, ec2.url, provider="ec2",
                    extra={"NM_CLOUD_SETUP_OPENSTACK": "yes",
                           "NM_CLOUD_SETUP_OPENSTACK_HOST": openstack.url,
                           "NM_CLOUD_SETUP_DMI_DIR": dmi, "NM_CLOUD_SETUP_LOG": "DEBUG"})


def test_dmi_says_openstack_and_openstack_wins_20_of_20_though_it_answers_later(
        nm_sandbox, both, tmp_path):
    """OpenStack answers after its head start: EC2 is probed too and answers first."""
    ec2, openstack = both
    with openstack.state.lock:
        openstack.state.latency = choice.HEAD_START + 0.2
    dmi = dmi_dir(tmp_path, sys_vendor="OpenStack Foundation", product_name="OpenStack Nova")
    for number in range(20):
        result = run_both(nm_sandbox, ec2, openstack, dmi)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "<info>  provider openstack chosen (named by DMI)" in result.stdout, result.stdout
        assert "provider ec2 detected" in result.stdout  # both answered, EC2 first
        assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                                "172.31.16.12/20"]
        assert ("reapply connection" in result.stdout) == (number == 0)
    assert EC2_LISTING not in ec2.state.paths  # EC2's configuration was never fetched


def test_dmi_named_provider_answering_in_time_costs_the_others_nothing(nm_sandbox, both,
                                                                       tmp_path):
    ec2, openstack = both
    dmi = dmi_dir(tmp_path, product_name="OpenStack Nova")
    for _ in range(5):
        result = run_both(nm_sandbox, ec2, openstack, dmi)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "<info>  provider openstack chosen (named by DMI)" in result.stdout
        assert "so none is probed" in result.stdout
        assert len(nm_sandbox.addresses("eth1")) == 3
    assert ec2.state.requests == 0  # EC2, enabled too, was never asked


@pytest.mark.parametrize("slow, dmi, chosen, addresses", [
    # DMI names EC2: EC2 wins over the order although it answers later
    ("ec2", {"sys_vendor": "Amazon EC2", "product_name": "m5.large"},
     "ec2 chosen (named by DMI)", 2),
    # DMI names no cloud: the order (OpenStack first) wins over the first answer
    ("openstack", {"sys_vendor": "QEMU", "product_name": "Standard PC (i440FX + PIIX, 1996)"},
     "openstack chosen (first detected in the order openstack, ec2)", 3),
], ids=["dmi-names-ec2", "no-dmi-match"])
def test_five_runs_choose_alike(nm_sandbox, both, tmp_path, slow, dmi, chosen, addresses):
    servers = dict(zip(("ec2", "openstack"), both))
    with servers[slow].state.lock:
        servers[slow].state.latency = 0.15
    for _ in range(5):
        result = run_both(nm_sandbox, *both, dmi_dir(tmp_path, **dmi))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"<info>  provider {chosen}" in result.stdout, result.stdout
        assert len(nm_sandbox.addresses("eth1")) == addresses
    # EC2's network configuration was fetched only where EC2 was chosen
    assert (EC2_LISTING in servers["ec2"].state.paths) == chosen.startswith("ec2")


def test_a_silent_provider_earlier_in_the_order_costs_only_the_grace(nm_sandbox, make_emulator,
                                                                      tmp_path):
    silent = make_emulator("openstack")
    with silent.state.lock:
        silent.state.rules = [{"match": "/", "hang": True, "hang_seconds": 30}]
    hetzner = make_emulator("hetzner", scenarios.generate(2, 2))
    started = time.monotonic()
    result = run_tool(nm_sandbox, hetzner.url, provider="hetzner",
                      extra={"NM_CLOUD_SETUP_OPENSTACK": "yes",
                             "NM_CLOUD_SETUP_OPENSTACK_HOST": silent.url,
                             "NM_CLOUD_SETUP_DMI_DIR": str(tmp_path), "NM_CLOUD_SETUP_LOG": "INFO"})
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "provider choice: openstack did not answer within 1 s of hetzner" in result.stdout
    assert nm_sandbox.addresses("eth2")[-1] == "172.31.32.11/20"
    assert took < 4, took  # the grace (1 s) and the run, not OpenStack's 3 s timeouts
