"""The independent reader of NetworkManager's applied connections (harness/nm_applied.py):
busctl's JSON, as systemd 252 prints it, into the tests' own simple structures."""

from __future__ import annotations

from harness.nm_applied import Family, entry, parse


def v(sig, data):
    return {"type": sig, "data": data}


SETTINGS = {
    "connection": {"id": v("s", "eth1"), "uuid": v("s", "c0ffee")},
    "802-3-ethernet": {"mtu": v("u", 9001)},
    "ipv4": {
        "method": v("s", "auto"),
        "address-data": v("aa{sv}", [{"address": v("s", "10.0.1.10"), "prefix": v("u", 24)}]),
        "route-data": v("aa{sv}", [{"dest": v("s", "0.0.0.0"), "prefix": v("u", 0),
                                    "next-hop": v("s", "10.0.1.1"), "table": v("u", 30200)}]),
        "routing-rules": v("aa{sv}", [{"family": v("i", 2), "priority": v("u", 30350),
                                       "table": v("u", 254),
                                       "suppress-prefixlength": v("i", 0)}]),
        "dns": v("au", [0x3503000a]),  # 10.0.3.53 in network byte order
    },
    "ipv6": {"method": v("s", "manual"),
             "address-data": v("aa{sv}", [{"address": v("s", "2001:db8::10"),
                                           "prefix": v("u", 64)}]),
             "dns": v("aay", [[0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [0x53]])},
}


def test_a_connection_is_read_into_plain_values():
    applied = parse(SETTINGS, 7)
    assert (applied.version_id, applied.uuid, applied.mtu) == (7, "c0ffee", 9001)
    assert applied.ipv4.addresses == ("10.0.1.10/24",)
    assert applied.ipv4.routes == (entry(dest=("s", "0.0.0.0"), prefix=("u", 0),
                                         next_hop=("s", "10.0.1.1"), table=("u", 30200)),)
    assert applied.ipv4.rules == (entry(family=("i", 2), priority=("u", 30350),
                                        table=("u", 254), suppress_prefixlength=("i", 0)),)
    assert applied.family(6).addresses == ("2001:db8::10/64",)
    assert applied.dns == ("10.0.3.53", "2001:db8::53")


def test_an_expected_entry_names_its_keys_as_networkmanager_does():
    assert entry(from_=("s", "10.0.1.11"), from_len=("y", 32)) == (
        ("from", "s", "10.0.1.11"), ("from-len", "y", 32))


def test_absent_settings_are_empty_and_mtu_zero_is_none():
    applied = parse({"802-3-ethernet": {"mtu": v("u", 0)},
                     "ipv4": {"dns-data": v("as", ["192.0.2.53"])}}, 1)
    assert applied.mtu is None and applied.ipv6 == Family()
    assert applied.dns == ("192.0.2.53",)
