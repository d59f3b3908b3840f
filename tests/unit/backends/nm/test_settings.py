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


def test_a_connection_without_ipv6_settings_gets_the_flag_on_an_old_daemon():
    settings = connection()
    del settings["ipv6"]
    assert nm_settings.reapply_flags("1.42.4", settings) == 1  # no IPv6 to lose


def test_route_data_has_the_dbus_types_networkmanager_wants():
    """NetworkManager refuses a route whose metric or table is not a uint32."""
    config = IpConfig((Address("10.0.1.10", 24),),
                      (Route("0.0.0.0", 0, "10.0.1.1", metric=100, table=30200, type="unicast"),))
    entry = nm_settings.with_config(connection(), config)["ipv4"]["route-data"].value[0]
    assert {key: value.signature for key, value in entry.items()} == {
        "dest": "s", "prefix": "u", "next-hop": "s", "metric": "u", "table": "u", "type": "s"}
    assert {key: value.value for key, value in entry.items()} == {
        "dest": "0.0.0.0", "prefix": 0, "next-hop": "10.0.1.1", "metric": 100, "table": 30200,
        "type": "unicast"}


def test_the_mtu_goes_back_to_automatic_when_the_cloud_no_longer_names_one():
    applied = connection(**{nm_settings.WIRED: {"mtu": Value("u", 9001)}})
    settings = nm_settings.with_config(applied, IpConfig((Address("10.0.1.10", 24),)))
    assert settings[nm_settings.WIRED]["mtu"] == Value("u", 0)  # 0: the device's own
    assert nm_settings.config_from_settings(settings).mtu is None


def test_no_mtu_is_written_where_neither_the_cloud_nor_the_profile_has_one():
    settings = nm_settings.with_config(connection(), IpConfig((Address("10.0.1.10", 24),)))
    assert "mtu" not in settings.get(nm_settings.WIRED, {})
    settings = nm_settings.with_config(connection(), IpConfig(mtu=1450))
    assert settings[nm_settings.WIRED]["mtu"] == Value("u", 1450)


# Every value written, by key, with the D-Bus type NetworkManager wants (libnm's).
TYPES = {"address": "s", "prefix": "u", "dest": "s", "next-hop": "s", "metric": "u",
         "table": "u", "type": "s", "family": "i", "priority": "u", "from": "s",
         "from-len": "y", "suppress-prefixlength": "i"}

BOTH = IpConfig(
    (Address("10.0.1.10", 24), Address("10.0.1.11", 24), Address("2001:db8::10", 64)),
    (Route("0.0.0.0", 0, "10.0.1.1", metric=200, table=30200),
     Route("35.1.2.3", 32, metric=100, type="local"),
     Route("::", 0, "fe80::1", metric=200, table=30200)),
    (Rule(30200, 30200, "10.0.1.11", 32), Rule(30350, 254, suppress_prefixlength=0),
     Rule(30200, 30200, "2001:db8::10", 128, family=6)),
    1450, ("10.0.3.53", "2001:db8::53"))


def test_every_value_written_has_networkmanagers_dbus_type():
    applied = connection()
    applied["ipv4"]["routes"] = Value("aau", [])  # legacy keys: NetworkManager prefers them
    settings = nm_settings.with_config(applied, BOTH)
    for name in ("ipv4", "ipv6"):
        section = settings[name]
        assert "addresses" not in section and "routes" not in section
        for key in ("address-data", "route-data", "routing-rules"):
            assert section[key].signature == "aa{sv}"
            for item in section[key].value:
                assert {k: v.signature for k, v in item.items()} == {k: TYPES[k] for k in item}
    assert settings["ipv4"]["dns"] == Value("au", [0x3503000a])
    assert settings["ipv6"]["dns"] == Value("aay", [bytes.fromhex("20010db8" + "0" * 22 + "53")])
    assert settings[nm_settings.WIRED]["mtu"] == Value("u", 1450)
    assert [r["family"].value for r in settings["ipv6"]["routing-rules"].value] == [10]


def test_what_is_written_reads_back_the_same():
    settings = nm_settings.with_config(connection(), BOTH)
    read = nm_settings.config_from_settings(settings)
    assert (set(read.addresses), set(read.routes), set(read.rules), read.mtu) == (
        set(BOTH.addresses), set(BOTH.routes), set(BOTH.rules), BOTH.mtu)
    assert nm_settings.dns_servers(settings) == BOTH.dns


def test_a_family_without_a_section_is_skipped_and_the_other_still_written():
    applied = connection()
    del applied["ipv4"]
    settings = nm_settings.with_config(applied, BOTH)
    assert "ipv4" not in settings
    assert [e["address"].value for e in settings["ipv6"]["address-data"].value] == [
        "2001:db8::10"]
    assert nm_settings.dns_servers(settings) == ("2001:db8::53",)


def test_a_rule_without_priority_or_table_reads_as_zero():
    settings = connection()
    settings["ipv4"]["routing-rules"] = Value("aa{sv}", [{"family": Value("i", 2),
                                                          "from": Value("s", "10.0.1.11")}])
    (rule,) = [r for r in nm_settings.config_from_settings(settings).rules if r.family == 4]
    assert (rule.priority, rule.table, rule.from_len) == (0, 0, 0)


def test_nmcli_command_removes_first_then_adds_and_sets_mtu_and_dns():
    gone_route = Route("10.9.0.0", 16, "10.0.1.1", 100, 30200)
    gone_rule = Rule(30200, 30200, "10.0.1.11", 32)
    applied = IpConfig((Address("10.0.1.10", 24), Address("10.0.1.11", 24)), (gone_route,),
                       (gone_rule,), 9001, ("10.0.3.53",))
    wanted = IpConfig((Address("10.0.1.10", 24), Address("10.0.1.12", 24)), (), (), None,
                      ("10.0.3.54", "2001:db8::53"))
    command = nm_settings.nmcli_command("eth1", applied, wanted)
    assert command == (
        "nmcli device modify eth1 "
        "-ipv4.routing-rules 'priority 30200 from 10.0.1.11/32 table 30200' "
        "-ipv4.routes '10.9.0.0/16 10.0.1.1 100 table=30200' "
        "-ipv4.addresses 10.0.1.11/24 +ipv4.addresses 10.0.1.12/24 "
        "802-3-ethernet.mtu 0 ipv4.dns 10.0.3.54 ipv6.dns 2001:db8::53")


def test_nmcli_command_lists_several_items_and_the_new_mtu():
    wanted = IpConfig((Address("10.0.1.10", 24), Address("10.0.1.11", 24),
                       Address("10.0.1.12", 24)), mtu=1450)
    command = nm_settings.nmcli_command("eth1", IpConfig((Address("10.0.1.10", 24),)), wanted)
    assert command == ("nmcli device modify eth1 +ipv4.addresses '10.0.1.11/24, 10.0.1.12/24' "
                       "802-3-ethernet.mtu 1450")


def test_nmcli_command_for_a_moved_primary_sets_the_whole_list():
    applied = IpConfig((Address("10.0.1.10", 24), Address("10.0.1.11", 24)))
    wanted = IpConfig((Address("10.0.1.11", 24), Address("10.0.1.10", 24)))
    assert nm_settings.nmcli_command("eth1", applied, wanted) == (
        "nmcli device modify eth1 ipv4.addresses '10.0.1.11/24, 10.0.1.10/24'")


@pytest.mark.parametrize("version, expected", [
    ("1.52.0", (1, 52, 0)), ("1.42.4-1.el9", (1, 42, 4)), ("1.46.0.1", (1, 46, 0)),
    ("1.51.90", (1, 51, 90))])
def test_version_tuple(version, expected):
    assert nm_settings.version_tuple(version) == expected


def test_the_flag_is_kept_from_152_exactly():
    assert nm_settings.reapply_flags("1.52", connection("auto")) == 1
    assert nm_settings.reapply_flags("1.51.90", connection("auto")) == 0


def test_skip_reasons_in_upstreams_words():
    other_user_data = connection(user={"data": Value("a{ss}", {"org.example.x": "1"})})
    assert nm_settings.skip_reason(other_user_data) is None
    no_connection = connection()
    del no_connection["connection"]
    assert nm_settings.skip_reason(no_connection) == \
        "skip applied connection due to type mismatch"
    no_ipv4 = connection()
    del no_ipv4["ipv4"]
    assert nm_settings.skip_reason(no_ipv4) == \
        "skip applied connection due to missing IPv4 configuration"


def test_no_wired_setting_reads_as_no_mtu():
    assert nm_settings.config_from_settings(connection()).mtu is None


def test_a_list_valued_attribute_of_a_route_is_kept_hashable():
    settings = connection()
    settings["ipv4"]["route-data"] = Value("aa{sv}", [{
        "dest": Value("s", "10.0.0.0"), "prefix": Value("u", 8),
        "x-list": Value("as", ["a", "b"])}])
    (route,) = nm_settings.config_from_settings(settings).routes
    assert route.extra == (("x-list", "as", ("a", "b")),)
    hash(route)


def test_a_connection_is_named_as_upstreams_lines_name_it():
    assert nm_settings.label(connection()) == '"eth1" (u-1)'
    assert nm_settings.label({}) == '"" ()'


def test_an_ipv4_name_server_with_a_high_last_octet_is_an_unsigned_value():
    config = IpConfig((Address("10.0.1.10", 24),), dns=("192.0.2.200",))
    value = nm_settings.with_config(connection(), config)["ipv4"]["dns"]
    assert value == Value("au", [0xC80200C0])
    assert nm_settings.dns_servers({"ipv4": {"dns": value}}) == ("192.0.2.200",)


def test_nmcli_command_without_a_change_and_with_both_primaries_moved():
    same = IpConfig((Address("10.0.1.10", 24), Address("10.0.1.11", 24)))
    assert nm_settings.nmcli_command("eth1", same, same) == "nmcli device modify eth1"
    applied = IpConfig((Address("10.0.1.10", 24), Address("10.0.1.11", 24),
                        Address("2001:db8::10", 64), Address("2001:db8::11", 64)))
    wanted = IpConfig((Address("10.0.1.11", 24), Address("10.0.1.10", 24),
                       Address("2001:db8::11", 64), Address("2001:db8::10", 64)))
    assert nm_settings.nmcli_command("eth1", applied, wanted) == (
        "nmcli device modify eth1 ipv4.addresses '10.0.1.11/24, 10.0.1.10/24' "
        "ipv6.addresses '2001:db8::11/64, 2001:db8::10/64'")
    assert nm_settings.version_tuple("1.52-1") == (1, 52)


def test_reading_a_connection_without_an_ipv6_section():
    settings = connection()
    del settings["ipv6"]
    assert nm_settings.config_from_settings(settings).addresses == (Address("10.0.1.10", 24),)


def test_a_routes_list_valued_attribute_is_written_as_a_list():
    route = Route("10.0.0.0", 8, "10.0.1.1", extra=(("x-list", "as", ("a", "b")),))
    settings = nm_settings.with_config(connection(), IpConfig(routes=(route,)))
    (entry,) = settings["ipv4"]["route-data"].value
    assert entry["x-list"] == Value("as", ["a", "b"])


def test_nmcli_command_joins_name_servers_of_a_family_with_commas():
    applied = IpConfig((Address("10.0.1.10", 24),))
    wanted = IpConfig(applied.addresses, dns=("10.0.3.53", "10.0.3.54"))
    assert nm_settings.nmcli_command("eth1", applied, wanted) == (
        "nmcli device modify eth1 ipv4.dns 10.0.3.53,10.0.3.54 ipv6.dns ''")


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
