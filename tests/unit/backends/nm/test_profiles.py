"""The profiles this tool makes (OpenStack), their name servers, and which of them go."""

from __future__ import annotations

import pytest

from nm_cloud_setup.backends.nm import profiles as nm_profiles
from nm_cloud_setup.backends.nm import settings as nm_settings
from nm_cloud_setup.backends.nm.profiles import Made
from nm_cloud_setup.backends.nm.settings import Value
from nm_cloud_setup.model import Address, InterfaceData, IpConfig, Route, VirtualLink
from nm_cloud_setup.planning import layout

STATIC = InterfaceData("02:00:00:00:00:03", 2, ("10.0.3.10",), "10.0.3.0/24",
                       gateway="10.0.3.1", routes=(("10.50.0.0/16", "10.0.3.254"),), mtu=1450,
                       ipv4_method="manual", dns=("10.0.3.53", "2001:db8::53"))


def test_static_base_is_what_dhcp_would_give():
    base = layout.static_base(STATIC)
    assert base.addresses == (Address("10.0.3.10", 24),)
    assert base.routes == (Route("0.0.0.0", 0, "10.0.3.1", metric=1026),
                           Route("10.50.0.0", 16, "10.0.3.254", metric=1026))
    # the NIC has no IPv6 network: a connection holds no IPv6 name server then
    assert (base.rules, base.mtu, base.dns) == ((), 1450, ("10.0.3.53",))


def test_a_nic_profile_holds_the_whole_plan():
    wanted = layout.desired(STATIC, layout.static_base(STATIC), False, ours=True)
    settings = nm_profiles.nic("eth3", STATIC, wanted)
    con = settings["connection"]
    assert (con["id"].value, con["type"].value, con["interface-name"].value) == (
        "nm-cloud-setup eth3", "802-3-ethernet", "eth3")
    assert nm_settings.made_for(settings) == "nic eth3 02:00:00:00:00:03"
    assert settings["user"]["data"].value[nm_settings.ORIGIN_KEY] == "nm-cloud-setup"
    assert (settings["ipv4"]["method"].value, settings["ipv6"]["method"].value) == (
        "manual", "ignore")
    assert settings["ipv4"]["dns"] == Value("au", [0x3503000a])  # 10.0.3.53, network order
    assert settings[nm_settings.WIRED]["mtu"] == Value("u", 1450)
    assert nm_settings.config_from_settings(settings).same_as(wanted)


@pytest.mark.parametrize("methods, expected", [
    (("manual", "manual"), ("manual", "manual")),
    (("manual", "auto"), ("manual", "auto")),
    ((None, "manual"), ("disabled", "manual")),
])
def test_methods_follow_the_networks(methods, expected):
    iface = InterfaceData("02:00:00:00:00:03", 0, ipv4_method=methods[0],
                          ipv6_method=methods[1])
    settings = nm_profiles.nic("eth3", iface, IpConfig())
    assert (settings["ipv4"]["method"].value, settings["ipv6"]["method"].value) == expected


def test_vlan_bond_slave_and_carrier_profiles():
    vlan = InterfaceData("02:00:00:00:01:42", 3, ipv4_method="manual",
                         link=VirtualLink("vlan", "eth3.42", parent_mac="02:00:00:00:00:03",
                                          vlan_id=42))
    settings = nm_profiles.vlan(vlan, "eth3", IpConfig())
    assert settings["vlan"] == {"parent": Value("s", "eth3"), "id": Value("u", 42)}
    assert settings[nm_settings.WIRED]["cloned-mac-address"].value == bytes.fromhex(
        "020000000142")
    bond = InterfaceData("02:00:00:00:02:00", 4, link=VirtualLink(
        "bond", "bond0", members=("02:00:00:00:00:04",), options=(("mode", "802.3ad"),)))
    settings = nm_profiles.bond(bond, IpConfig())
    assert settings["bond"]["options"].value == {"mode": "802.3ad"}
    assert settings["ipv4"]["method"].value == "disabled"  # it only carries VLANs
    slave = nm_profiles.slave("eth4", "02:00:00:00:00:04", "bond0")
    assert (slave["connection"]["master"].value, slave["connection"]["slave-type"].value) == (
        "bond0", "bond")
    assert "ipv4" not in slave
    carrier = nm_profiles.carrier("eth3", "02:00:00:00:00:03", 9000)
    assert carrier["ipv4"]["method"].value == "disabled"
    assert carrier[nm_settings.WIRED]["mtu"].value == 9000


@pytest.mark.parametrize("flags, expected", [(0, False), (1, False), (3, True), (15, False)])
def test_networkmanagers_own_default_profile(flags, expected):
    assert nm_profiles.generated(flags) is expected


def made(kind, ifname, mac=None, flags=1, master=None):
    return Made(f"/p/{kind}/{ifname}", kind, ifname, mac, flags, master)


@pytest.mark.parametrize("profile, present, named, gone", [
    (made("nic", "eth3", "M3"), {"eth3": "M3"}, {"bond0"}, False),
    (made("nic", "eth3", "M3"), {}, {"bond0"}, True),
    (made("nic", "eth3", "M3"), {"eth3": "M9"}, set(), True),  # another NIC took the name
    (made("nic", "eth3", "M3", flags=0), {}, set(), False),  # on disk: never ours to remove
    (made("carrier", "eth3", "M3"), {}, None, True),
    (made("vlan", "eth3.42"), {}, {"eth3.42"}, False),
    (made("vlan", "eth3.42"), {}, set(), True),
    (made("bond", "bond0"), {}, None, False),  # a link's data failed: nothing named is sure
    (made("slave", "eth4", "M4", master="bond0"), {"eth4": "M4"}, set(), True),
    (made("slave", "eth4", "M4", master="bond0"), {"eth4": "M4"}, {"bond0"}, False),
])
def test_which_profiles_go(profile, present, named, gone):
    assert (nm_profiles.stale([profile], present, named) == [profile]) is gone


def test_made_for_is_read_back():
    settings = nm_profiles.slave("eth4", "02:00:00:00:00:04", "bond0")
    found = nm_profiles.made("/p/1", settings, 1)
    assert found == Made("/p/1", "slave", "eth4", "02:00:00:00:00:04", 1, "bond0")
    assert nm_profiles.made("/p/2", {"connection": {}}, 1) is None


def test_name_servers_read_from_dns_data_or_dns():
    legacy = {"ipv4": {"dns": Value("au", [0x08080808])},
              "ipv6": {"dns": Value("aay", [bytes.fromhex("20010db8" + "0" * 20 + "0053")])}}
    assert nm_settings.dns_servers(legacy) == ("8.8.8.8", "2001:db8::53")
    newer = {"ipv4": {"dns": Value("au", [1]), "dns-data": Value("as", ["9.9.9.9"])}}
    assert nm_settings.dns_servers(newer) == ("9.9.9.9",)


def test_name_servers_are_written_only_when_they_change():
    settings = {"ipv4": {"method": Value("s", "auto"), "dns": Value("au", [0x08080808]),
                         "dns-data": Value("as", ["8.8.8.8"])}}
    same = nm_settings.with_config(settings, IpConfig(dns=("8.8.8.8",)), [4])
    assert same["ipv4"]["dns-data"] == Value("as", ["8.8.8.8"])  # untouched
    changed = nm_settings.with_config(settings, IpConfig(dns=("1.1.1.1",)), [4])
    assert changed["ipv4"]["dns"] == Value("au", [0x01010101]) and "dns-data" not in \
        changed["ipv4"]


def test_only_a_profile_made_here_gets_the_clouds_name_servers():
    applied = IpConfig((Address("10.0.3.10", 24),), dns=("192.0.2.99",))
    assert layout.desired(STATIC, applied, True, applied=applied).dns == ("192.0.2.99",)
    assert layout.desired(STATIC, layout.static_base(STATIC), True, applied=applied,
                        ours=True).dns == ("10.0.3.53",)


def test_vlans_and_bonds_are_skipped_unless_made_here():
    vlan = {"connection": {"type": Value("s", "vlan")}, "ipv4": {}}
    assert nm_settings.skip_reason(vlan) == "skip applied connection due to type mismatch"
    vlan["user"] = {"data": Value("a{ss}", {nm_settings.MADE_FOR_KEY: "vlan eth3.42"})}
    assert nm_settings.skip_reason(vlan) is None
