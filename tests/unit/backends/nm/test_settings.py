"""NetworkManager settings and the model, both families, without a daemon."""

from __future__ import annotations

import pytest

from nm_cloud_setup.backends.nm import settings as nm_settings
from nm_cloud_setup.backends.nm.settings import Value
from nm_cloud_setup.model import Address, InterfaceData, IpConfig, Route, Rule
from nm_cloud_setup.planning import layout


def addresses(*items):
    return Value("aa{sv}", [{"address": Value("s", a), "prefix": Value("u", p)} for a, p in items])


def connection(ipv6_method="manual", **extra):
    settings = {
        "connection": {"id": Value("s", "eth1"), "uuid": Value("s", "u-1"),
                       "type": Value("s", "802-3-ethernet")},
        "ipv4": {"method": Value("s", "auto"), "address-data": addresses(("10.0.1.10", 24)),
                 "addresses": Value("aau", [[1, 24, 0]]), "dns": Value("au", [16843009])},
        "ipv6": {"method": Value("s", ipv6_method),
                 "addr-gen-mode": Value("i", 1)},
    }
    if ipv6_method == "manual":
        settings["ipv6"].update({
            "address-data": addresses(("2600:1f18::10", 64)),
            "addresses": Value("a(ayuay)", [[b"\x26" * 16, 64, b"\0" * 16]]),
            "routing-rules": Value("aa{sv}", [{
                "family": Value("i", 10), "priority": Value("u", 500),
                "from": Value("s", "fd00::7"), "from-len": Value("y", 128),
                "table": Value("u", 600), "fwmark": Value("u", 7)}]),
        })
    settings.update(extra)
    return settings


def test_both_families_are_read_with_their_rules_family():
    config = nm_settings.config_from_settings(connection())
    assert config.addresses == (Address("10.0.1.10", 24), Address("2600:1f18::10", 64))
    (rule,) = config.rules
    assert (rule.family, rule.from_addr, rule.extra) == (6, "fd00::7", (("fwmark", "u", 7),))


def test_writing_keeps_unmodelled_keys_and_drops_legacy_ones():
    applied = connection()
    wanted = layout.desired(InterfaceData("02:00:00:00:00:01", 0, ("10.0.1.10", "10.0.1.11"),
                                        "10.0.1.0/24", ipv6_addresses=("2600:1f18::11",),
                                        ipv6_subnet="2600:1f18::/64"),
                          nm_settings.config_from_settings(applied), False)
    settings = nm_settings.with_config(applied, wanted)
    assert "addresses" not in settings["ipv4"] and "addresses" not in settings["ipv6"]
    assert settings["ipv4"]["dns"] == applied["ipv4"]["dns"]
    assert settings["ipv6"]["addr-gen-mode"] == Value("i", 1)
    assert nm_settings.config_from_settings(settings).same_as(wanted)
    families = {e["family"].value for e in settings["ipv6"]["routing-rules"].value}
    assert families == {10}
    assert applied["ipv4"]["address-data"].value[0]["address"].value == "10.0.1.10"  # untouched


def test_a_family_left_off_is_not_written():
    applied = connection(ipv6_method="ignore")
    wanted = IpConfig((Address("10.0.1.10", 24), Address("2600:1f18::11", 64)))
    settings = nm_settings.with_config(applied, wanted, families=[4])
    assert settings["ipv6"] is applied["ipv6"]


@pytest.mark.parametrize("ipv4, ipv6, off", [
    ("auto", "auto", []),
    ("auto", "manual", []),
    ("auto", "ignore", [6]),
    ("auto", "disabled", [6]),
    ("auto", "link-local", [6]),
    ("disabled", "auto", [4]),
    ("link-local", "dhcp", [4]),
])
def test_families_off_follow_the_methods_that_take_no_addresses(ipv4, ipv6, off):
    settings = connection(ipv6_method=ipv6)
    settings["ipv4"]["method"] = Value("s", ipv4)
    assert [family for family, _ in nm_settings.families_off(settings)] == off


def test_a_connection_without_ipv6_setting_leaves_ipv6_off():
    settings = connection()
    del settings["ipv6"]
    assert nm_settings.families_off(settings) == ((6, "the connection has no ipv6 setting"),)


@pytest.mark.parametrize("version, ipv6_method, flags", [
    ("1.52.1", "manual", 1),   # restores IPv6 under preserve-external-ip
    ("1.54.0", "auto", 1),
    ("1.42.4", "disabled", 1),  # no IPv6 to lose: upstream's flag
    ("1.42.4", "ignore", 1),    # NetworkManager does not touch IPv6 at all
    ("1.42.4", "manual", 0),    # the flag would leave the device without IPv6
    ("1.42.4", "auto", 0),
    ("1.42.4", "dhcp", 0),
    ("1.50.0-1.fc41", "auto", 0),
    ("1.40.0", "auto", 0),
])
def test_reapply_flags_keep_every_family_intact(version, ipv6_method, flags):
    assert nm_settings.reapply_flags(version, connection(ipv6_method)) == flags


@pytest.mark.parametrize("user, type_, skip", [
    ({"org.freedesktop.nm-cloud-setup.skip": "yes"}, "802-3-ethernet", "user data"),
    ({}, "vlan", "type mismatch"),
    ({}, "802-3-ethernet", None),
])
def test_skip_reasons(user, type_, skip):
    settings = connection(user={"data": Value("a{ss}", user)})
    settings["connection"]["type"] = Value("s", type_)
    reason = nm_settings.skip_reason(settings)
    assert (reason is None) if skip is None else (skip in reason)


def test_nmcli_command_shows_both_families():
    applied = IpConfig((Address("10.0.1.10", 24), Address("2600:1f18::10", 64)))
    wanted = IpConfig(applied.addresses + (Address("2600:1f18::11", 64),),
                      (Route("::", 0, next_hop="2600:1f18::1", metric=10, table=30400),),
                      (Rule(30350, 254, suppress_prefixlength=0, family=6),))
    command = nm_settings.nmcli_command("eth1", applied, wanted)
    assert command == ("nmcli device modify eth1 +ipv6.addresses 2600:1f18::11/64 "
                       "+ipv6.routes '::/0 2600:1f18::1 10 table=30400' "
                       "+ipv6.routing-rules 'priority 30350 table 254 suppress_prefixlength 0'")


@pytest.mark.parametrize("wired, mtu, written", [
    ({}, 1460, 1460),                       # the cloud's, on a profile without one
    ({"mtu": Value("u", 1460)}, 1500, 1500),  # the cloud's changed
    ({"mtu": Value("u", 1460)}, None, 0),   # what this tool set, back to automatic
    ({"mtu": Value("u", 9000)}, 9000, 9000),  # the profile's own
    ({}, None, None),                       # nobody's: not written at all
])
def test_the_mtu_is_written_to_the_ethernet_setting(wired, mtu, written):
    applied = connection(**({nm_settings.WIRED: wired} if wired else {}))
    settings = nm_settings.with_config(applied, IpConfig(mtu=mtu), [4])
    assert settings.get(nm_settings.WIRED, {}).get("mtu") == (
        None if written is None else Value("u", written))
    assert nm_settings.config_from_settings(settings).mtu == (written or None)


def test_nmcli_command_shows_the_mtu():
    applied = IpConfig((Address("10.0.1.10", 24),), mtu=1460)
    assert nm_settings.nmcli_command("eth1", applied, IpConfig(applied.addresses, mtu=1500)) == (
        "nmcli device modify eth1 802-3-ethernet.mtu 1500")
    assert nm_settings.nmcli_command("eth1", applied, IpConfig(applied.addresses)) == (
        "nmcli device modify eth1 802-3-ethernet.mtu 0")
