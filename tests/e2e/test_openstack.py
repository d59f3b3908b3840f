"""OpenStack end to end: NICs without DHCP, name servers, VLAN and bond links, hot-plug.

A real NetworkManager (both daemons), the emulator's metadata service and config
drive.  The sandbox's own NICs (eth1, eth2) have DHCP and an administrator's
profile; NICs plugged during a test (eth3...) have no DHCP server and no profile,
as a port on a static network plugged into a running VM.  The tool is run as
the udev rule runs it: with no arguments, after the plug.
"""

from __future__ import annotations

import time

import pytest

from harness.kernel_view import policy_routes, policy_rules
from harness.nm_applied import applied
from harness.nm_read import profiles_on_disk
from harness.sandbox import Nic, Sandbox
from harness.vm_state import kernel_can_make
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.openstack import write_config_drive
from tests.support.nm_daemons import BOTH_DAEMONS
from tests.support.scenarios import ETH3, openstack_scenario, set_scenario
from tests.support.vm import run_tool

pytestmark = [pytest.mark.root, BOTH_DAEMONS]

ADMIN_DNS = "192.0.2.99"


@pytest.fixture
def plug(nm_sandbox):
    """Plug NICs on static networks into the running VM; unplugged after the test."""
    plugged = []
    # eth1's administrator keeps a name server of their own in its DHCP profile
    nm_sandbox.nmcli("connection", "modify", "eth1", "ipv4.dns", ADMIN_DNS)
    nm_sandbox.nmcli("device", "reapply", "eth1")

    def do(*nics: Nic) -> None:
        for nic in nics:
            nm_sandbox.plug(nic, 10 + len(plugged))
            plugged.append(nic.ifname)
        deadline = time.monotonic() + 10
        while not all(_state(nm_sandbox, n.ifname) == "disconnected" for n in nics):
            assert time.monotonic() < deadline, nm_sandbox.nmcli("device").stdout
            time.sleep(0.1)

    yield do
    for ifname in plugged:
        nm_sandbox.unplug(ifname)


def _state(sandbox, ifname: str) -> str:
    out = sandbox.nmcli("-t", "-f", "DEVICE,STATE", "device").stdout
    return dict(line.split(":", 1) for line in out.splitlines()).get(ifname, "")


def profiles(sandbox) -> dict:
    """Profile name -> (type, device, file) as nmcli lists them."""
    out = sandbox.nmcli("-t", "-f", "NAME,TYPE,DEVICE,FILENAME", "connection", "show").stdout
    return {fields[0]: tuple(fields[1:]) for fields in
            (line.replace("\\:", "\x00").split(":") for line in out.splitlines())}


def run(sandbox, emulator, drive=None, args=()):
    extra = {"NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE": str(drive)} if drive else {}
    return run_tool(sandbox, emulator.url, provider="openstack", extra=extra, args=args)


@pytest.mark.parametrize("source", ["metadata-service", "config-drive"])
def test_a_hot_plugged_nic_without_dhcp_gets_an_in_memory_profile(nm_sandbox, make_emulator,
                                                                  plug, tmp_path, source):
    emulator = make_emulator("openstack", openstack_scenario())
    # The drive is written when the VM is made: it does not know the NIC plugged later.
    drive = write_config_drive(openstack_scenario(eth3=False), tmp_path) \
        if source == "config-drive" else None
    disk_before = profiles_on_disk(nm_sandbox)
    eth1_before = applied(nm_sandbox)["eth1"]
    plug(ETH3)

    result = run(nm_sandbox, emulator, drive)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert emulator.state.requests == 1, output  # the drive's document lacks eth3: one GET
    assert "added an in-memory profile for eth3: 172.31.48.10/20" in result.stdout
    kind, device, filename = profiles(nm_sandbox)["nm-cloud-setup eth3"]
    assert (kind, device) == ("802-3-ethernet", "eth3")
    assert filename.startswith("/run/"), filename  # in memory: gone at reboot
    assert profiles_on_disk(nm_sandbox) == disk_before  # nothing written to the keyfiles
    assert nm_sandbox.addresses("eth3") == ["172.31.48.10/20"]
    assert nm_sandbox.mtu("eth3") == 1450
    # its network's name server, then the global ones (eth3 has no IPv6: not the IPv6 one)
    assert applied(nm_sandbox)["eth3"].dns == ("192.0.2.53", "8.8.8.8")
    # three NICs: the usual layout (eth3 is the third link: tables 30202 and 30402)...
    assert {(30202, "172.31.48.10", "30202"), (30402, "172.31.48.10", "30402")} \
        <= policy_rules(nm_sandbox)
    assert ("30402", "default", "172.31.48.1", "eth3", 10) in policy_routes(nm_sandbox)
    # ...and what DHCP would have given it: the default route in the main table
    assert any(r["dst"] == "default" and r.get("gateway") == "172.31.48.1"
               and r["dev"] == "eth3" for r in nm_sandbox.ip_json("-4", "route", "show"))
    # the DHCP NIC: untouched, its administrator's name server too
    assert applied(nm_sandbox)["eth1"] == eth1_before
    assert eth1_before.dns == (ADMIN_DNS,)
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20"]

    before = applied(nm_sandbox)
    again = run(nm_sandbox, emulator, drive)
    assert again.returncode == 0 and "reapply" not in again.stdout, again.stdout
    assert "in-memory profile" not in again.stdout
    assert applied(nm_sandbox) == before


def test_a_changed_address_is_reapplied_to_the_same_profile(nm_sandbox, make_emulator, plug):
    emulator = make_emulator("openstack", openstack_scenario())
    plug(ETH3)
    dry = run(nm_sandbox, emulator, args=["--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "eth3 (02:00:00:00:00:03): differs\n  add an in-memory profile for eth3: " \
           "172.31.48.10/20, name servers 192.0.2.53 8.8.8.8" in dry.stdout, dry.stdout
    assert "nm-cloud-setup eth3" not in profiles(nm_sandbox)  # a dry run changes nothing
    assert run(nm_sandbox, emulator).returncode == 0

    set_scenario(emulator, openstack_scenario(eth3_addresses=("172.31.48.20", "172.31.48.21")))
    result = run(nm_sandbox, emulator)

    assert result.returncode == 0, result.stdout + result.stderr
    assert 'reapply connection "nm-cloud-setup eth3"' in result.stdout
    assert nm_sandbox.addresses("eth3") == ["172.31.48.20/20", "172.31.48.21/20"]
    assert [name for name in profiles(nm_sandbox) if "eth3" in name] == ["nm-cloud-setup eth3"]
    assert (30202, "172.31.48.10", "30202") not in policy_rules(nm_sandbox)
    assert (30402, "172.31.48.21", "30402") in policy_rules(nm_sandbox)
    # the in-memory profile follows, so that a re-activation brings the new addresses
    nm_sandbox.nmcli("--wait", "20", "connection", "up", "nm-cloud-setup eth3")
    nm_sandbox.settle()
    assert nm_sandbox.addresses("eth3") == ["172.31.48.20/20", "172.31.48.21/20"]
    assert "reapply" not in run(nm_sandbox, emulator).stdout


def test_an_unplugged_nic_takes_its_profile_along(nm_sandbox, make_emulator, plug):
    emulator = make_emulator("openstack", openstack_scenario())
    plug(ETH3)
    assert run(nm_sandbox, emulator).returncode == 0
    assert "nm-cloud-setup eth3" in profiles(nm_sandbox)

    nm_sandbox.unplug("eth3")  # the metadata still lists it for a while: no matter
    result = run(nm_sandbox, emulator)

    assert result.returncode == 0, result.stdout + result.stderr
    assert 'removed the in-memory connection "nm-cloud-setup eth3" (nic): its device is gone' \
        in result.stdout
    assert not [name for name in profiles(nm_sandbox) if "eth3" in name]
    assert not [rule for rule in policy_rules(nm_sandbox) if rule[1].startswith("172.31.48.")]
    assert not [route for route in policy_routes(nm_sandbox) if route[3] == "eth3"]


PARENT = Nic("eth3", "02:00:00:00:00:03", "172.31.48.10", "172.31.48.0/20")
MEMBERS = (Nic("eth4", "02:00:00:00:00:04", "172.31.64.10", "172.31.64.0/20"),
           Nic("eth5", "02:00:00:00:00:05", "172.31.80.10", "172.31.80.0/20"))


def links_scenario() -> dict:
    """VLAN 42 on eth3 (no network of its own), a bond of eth4 and eth5, and a bond that
    would take eth1, which its administrator's profile manages."""
    result = openstack_scenario(eth3=False)
    for number in (2, 3, 4):  # eth3..eth5: links without networks
        result["interfaces"].append(dict(scenarios.nic(number, 0), mtu=9000))
    vlan = dict(scenarios.nic(5, 1), vlan_id=42, parent=PARENT.mac, mac="02:00:00:00:01:42")
    bond = dict(scenarios.nic(6, 1), bond=True, members=[m.mac for m in MEMBERS],
                mode="802.3ad", hash_policy="layer3+4", mac="02:00:00:00:02:00")
    taken = dict(scenarios.nic(7, 1), bond=True, members=[result["interfaces"][0]["mac"]],
                 mac="02:00:00:00:02:01")
    result["openstack"]["links"] = [vlan, bond, taken]
    return result


def test_vlan_and_bond_links_become_in_memory_profiles(nm_sandbox, make_emulator, plug):
    emulator = make_emulator("openstack", links_scenario())
    eth1_before = applied(nm_sandbox)["eth1"]
    plug(PARENT, *MEMBERS)
    vlan, bond = kernel_can_make("vlan"), kernel_can_make("bond")

    result = run(nm_sandbox, emulator)

    output = result.stdout + result.stderr
    made = profiles(nm_sandbox)
    assert made["nm-cloud-setup eth3.42"][0] == "vlan"
    assert made["nm-cloud-setup bond0"][0] == "bond"
    assert made["nm-cloud-setup eth3"][:2] == ("802-3-ethernet", "eth3")  # carries the VLAN
    for member in MEMBERS:
        assert made[f"nm-cloud-setup {member.ifname}"][0] == "802-3-ethernet"
        assert nm_sandbox.nmcli("-g", "connection.master,connection.slave-type", "connection",
                                "show", f"nm-cloud-setup {member.ifname}").stdout.split() \
            == ["bond0", "bond"]
    assert all(info[2].startswith("/run/") for name, info in made.items()
               if name.startswith("nm-cloud-setup")), made
    options = nm_sandbox.nmcli("-g", "bond.options", "connection", "show",
                               "nm-cloud-setup bond0").stdout
    assert "mode=802.3ad" in options and "xmit_hash_policy=layer3+4" in options, options
    # an administrator's profile manages eth1: that bond is not made, eth1 untouched
    assert "eth1 (02:00:00:00:00:01) is managed by a profile that is not this tool's: " \
           "bond1 is not made" in result.stdout
    assert "nm-cloud-setup bond1" not in made
    assert applied(nm_sandbox)["eth1"] == eth1_before
    # Where the kernel has 802.1Q and bonding (probed before the run), they come up with
    # their addresses; a kernel without them makes them fail, and that is said.
    for ifname, address, can in (("eth3.42", "172.31.96.10/20", vlan),
                                 ("bond0", "172.31.112.10/20", bond)):
        assert nm_sandbox.has_link(ifname) == can, output
        if can:
            assert nm_sandbox.addresses(ifname) == [address], output
        else:
            kind = "VLAN" if "." in ifname else "bond"
            assert f'{ifname} not made: failure to activate connection "nm-cloud-setup ' \
                   f"{ifname}\": {ifname} failed to create resources: Failed to create {kind} " \
                   f"interface '{ifname}' for 'nm-cloud-setup {ifname}': Operation not " \
                   "supported" in output, output
    assert result.returncode == (0 if vlan and bond else 1), output

    unnamed = links_scenario()
    del unnamed["openstack"]["links"]  # the metadata names them no more
    set_scenario(emulator, unnamed)
    assert run(nm_sandbox, emulator).returncode == 0
    left = profiles(nm_sandbox)
    assert not [name for name in left if "bond" in name or "eth3.42" in name], left


def test_networkmanagers_default_profile_waiting_for_dhcp_is_taken_over(nm_daemon_id,
                                                                      make_emulator):
    """A VM whose NetworkManager makes its default profile ("Wired connection 1", DHCP)
    for a new NIC: on a static network that waits for a DHCP server that is not there."""
    from tests.support.nm_daemons import NM_DAEMONS
    from tests.support.requirements import require_root

    require_root()
    sandbox = Sandbox([], nm_root=NM_DAEMONS[nm_daemon_id])
    (sandbox.workdir / "nm" / "conf.d").mkdir(parents=True)
    (sandbox.workdir / "nm" / "conf.d" / "auto-default.conf").write_text(
        "[main]\nno-auto-default=\n")
    emulator = make_emulator("openstack", {"interfaces": [dict(scenarios.nic(2, 1), mtu=1450)]})
    with sandbox:
        sandbox.plug(ETH3, 10)
        deadline = time.monotonic() + 10
        while "Wired connection 1" not in profiles(sandbox):
            assert time.monotonic() < deadline, sandbox.nmcli("connection").stdout
            time.sleep(0.1)
        assert _state(sandbox, "eth3").startswith("connecting"), _state(sandbox, "eth3")

        result = run(sandbox, emulator)

        assert result.returncode == 0, result.stdout + result.stderr
        assert profiles(sandbox)["nm-cloud-setup eth3"][1] == "eth3"
        assert sandbox.addresses("eth3") == ["172.31.48.10/20"]
        assert "reapply" not in run(sandbox, emulator).stdout


def test_the_hotplug_demo(nm_daemon_id):
    """``scripts/demo --openstack-hotplug``, whose output docs/providers/openstack.md shows."""
    from harness import hotplug_demo
    from tests.support.nm_daemons import NM_DAEMONS
    from tests.support.requirements import require_root

    require_root()
    lines = []
    status = hotplug_demo.demo(lines.append, lines.append, NM_DAEMONS[nm_daemon_id])
    text = "\n".join(lines)
    assert status == 0, text
    assert "added an in-memory profile for eth2: 172.31.32.10/20, name servers 172.31.32.2 " \
           "8.8.8.8" in text
    assert "manual\n172.31.32.2,8.8.8.8\n1450" in text
    assert "30401:\tfrom 172.31.32.10 lookup 30401" in text  # eth1 (DHCP) counts as a NIC
    assert 'removed the in-memory connection "nm-cloud-setup eth2" (nic): its device is ' \
           "gone" in text
