"""Our reading of network_data.json next to cloud-init's own (Debian's package).

The emulator's document (DHCP and static networks, name servers, a VLAN on a NIC
and one on a bond, a bond of two NICs) goes through cloud-init's
``convert_net_json`` with Debian's python3, and through ``parse_network_data``:
the devices, their names, members, VLAN ids, addresses and what is left to DHCP
must agree.
"""

from __future__ import annotations

import json
import subprocess

from nm_cloud_setup.emulator.openstack import network_data
from nm_cloud_setup.providers.network_data import dhcp_macs, parse_network_data
from tests.support.cloud_init import DEBIAN_PYTHON, need_cloud_init

CONVERT = """
import json, sys
from cloudinit.sources.helpers import openstack
doc, macs = json.load(sys.stdin)
print(json.dumps(openstack.convert_net_json(doc, known_macs=macs)))
"""


def scenario() -> dict:
    from nm_cloud_setup.emulator import scenario as scenarios

    nics = [scenarios.nic(n, 0) for n in range(5)]
    nics[0].update(addresses=["172.31.16.10"], dhcp=True)
    nics[1].update(addresses=["172.31.32.10", "172.31.32.11"], dns=["172.31.32.2"])
    vlan = dict(scenarios.nic(5, 1), vlan_id=42, parent=nics[2]["mac"], mac="02:00:00:00:01:42")
    bond = dict(scenarios.nic(6, 1), bond=True, members=[nics[3]["mac"], nics[4]["mac"]],
                mode="active-backup", miimon=100, mac="02:00:00:00:02:00")
    on_bond = dict(scenarios.nic(7, 1), vlan_id=7, parent="bond-1", mac="02:00:00:00:02:07")
    return {"interfaces": nics,
            "openstack": {"dns": ["8.8.8.8"], "links": [vlan, bond, on_bond]}}


def test_cloud_init_reads_the_document_as_we_do():
    need_cloud_init()
    doc = network_data(scenario())
    names = {n["mac"].upper(): f"eth{k + 1}" for k, n in enumerate(scenario()["interfaces"])}
    result = subprocess.run([DEBIAN_PYTHON, "-c", CONVERT], capture_output=True, text=True,
                            input=json.dumps([doc, {m.lower(): n for m, n in names.items()}]))
    assert result.returncode == 0, result.stderr
    theirs = {c.get("name"): c for c in json.loads(result.stdout)["config"]}
    ours = parse_network_data(json.dumps(doc), names)

    statics = {}
    for name, config in theirs.items():
        statics[name] = tuple(s["address"] for s in config.get("subnets", [])
                              if s["type"] == "static")
    for iface in ours:
        name = iface.link.ifname if iface.link else names[iface.mac]
        assert statics[name] == iface.addresses, name
        if iface.link and iface.link.kind == "vlan":
            assert theirs[name]["vlan_id"] == iface.link.vlan_id
            parent = iface.link.parent_bond or names[iface.link.parent_mac]
            assert theirs[name]["vlan_link"] == parent
        if iface.link and iface.link.kind == "bond":
            assert theirs[name]["bond_interfaces"] == [names[m] for m in iface.link.members]
            assert theirs[name]["params"]["bond_mode"] == dict(iface.link.options)["mode"]
    # what both leave to DHCP
    assert [s["type"] for s in theirs["eth1"]["subnets"]] == ["dhcp4"]
    assert dhcp_macs(json.dumps(doc), names) == ("02:00:00:00:00:01",)
    assert [iface.link.ifname for iface in ours if iface.link] == ["eth3.42", "bond0", "bond0.7"]
    # the global name servers: cloud-init's "nameserver" entries, ours after the network's
    assert [c["address"] for c in theirs.values() if c["type"] == "nameserver"] == ["8.8.8.8"]
    eth2 = next(iface for iface in ours if iface.mac == "02:00:00:00:00:02")
    assert eth2.dns == ("172.31.32.2", "8.8.8.8")
