"""Emulator scenarios that several test modules run, and changing an emulator's scenario."""

from __future__ import annotations

from harness.sandbox import Nic
from nm_cloud_setup.emulator import scenario as scenarios

# OpenStack: a NIC on a static network, plugged into the running VM.
ETH3 = Nic("eth3", "02:00:00:00:00:03", "172.31.48.10", "172.31.48.0/20")


def set_scenario(emulator, scenario) -> None:
    with emulator.state.lock:
        emulator.state.scenario = scenario


def openstack_scenario(eth3_addresses=("172.31.48.10",), eth3=True) -> dict:
    """eth1 on a DHCP network (Nova's ipv4_dhcp), eth2 static with two addresses (its
    administrator's DHCP profile gets the second), eth3 static with its own name server."""
    result = scenarios.generate(2, 2)
    result["interfaces"][0]["dhcp"] = True
    if eth3:
        nic = scenarios.nic(2, 0)
        nic.update(addresses=list(eth3_addresses), mtu=1450, dns=["192.0.2.53"])
        result["interfaces"].append(nic)
    result["openstack"] = {"dns": ["8.8.8.8", "2001:4860:4860::8888"]}
    return result


def oci_baremetal_scenario() -> dict:
    """Two physical NICs (nicIndex 0 and 1) and a VNIC with VLAN 100 on the first."""
    scenario = scenarios.generate(2, 1)
    scenario["oci"] = {"baremetal": True}
    scenario["interfaces"][1]["nic_index"] = 1
    vlan = scenarios.nic(2, 1)
    vlan.update(mac="02:00:00:00:01:00", vlan_tag=100, nic_index=0)
    scenario["interfaces"].append(vlan)
    return scenario
