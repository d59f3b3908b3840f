"""The standard-library netlink reader against pyroute2, the oracle, on this machine's
own links, addresses, routes and rules (read only), and its attribute parsing."""

from __future__ import annotations

import struct

import pytest

from nm_cloud_setup.backends.netlink import dump
from nm_cloud_setup.backends.netlink.kernel import ANY, RTN_LOCAL, Kernel
from nm_cloud_setup.model import Address, Route, Rule, normalize_mac
from tests.support.pyroute2_entries import address_entry, route_entry

pyroute2 = pytest.importorskip("pyroute2")
AF = {4: 2, 6: 10}


@pytest.fixture(scope="module")
def both():
    kernel = Kernel()
    with pyroute2.IPRoute() as ipr:
        yield kernel, ipr
    kernel.close()


def test_links(both):
    kernel, ipr = both
    expected = []
    for msg in ipr.get_links():
        info = msg.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info else None
        expected.append((msg["index"], msg.get_attr("IFLA_IFNAME"), normalize_mac(
            msg.get_attr("IFLA_PERM_ADDRESS") or msg.get_attr("IFLA_ADDRESS") or ""),
            msg["ifi_type"] == 1 and kind in (None, "veth") and not msg.get_attr("IFLA_MASTER"),
            bool(msg["flags"] & 1), msg.get_attr("IFLA_MTU")))
    assert [(k.index, k.ifname, k.mac, k.ethernet, k.up, k.mtu)
            for k in kernel.links()] == expected
    assert kernel.link(expected[0][0]).ifname == expected[0][1]
    assert kernel.link(2 ** 31 - 1) is None


def test_addresses(both):
    kernel, ipr = both
    expected = {}
    for af in AF.values():
        for msg in ipr.get_addr(family=af):
            expected.setdefault(msg["index"], []).append(Address(
                msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"), msg["prefixlen"]))
    assert kernel.addresses() == expected


@pytest.mark.parametrize("proto", [2, 3, 4, 16, 186])
def test_routes_of_one_protocol(both, proto):
    kernel, ipr = both
    expected = {}
    for family, af in AF.items():
        for msg in ipr.get_routes(family=af):
            if msg["proto"] == proto:
                expected.setdefault(msg.get_attr("RTA_OIF"), []).append(Route(
                    dest=msg.get_attr("RTA_DST") or ANY[family], prefix=msg["dst_len"],
                    next_hop=msg.get_attr("RTA_GATEWAY"), metric=msg.get_attr("RTA_PRIORITY"),
                    table=msg.get_attr("RTA_TABLE") or msg["table"],
                    type="local" if msg["type"] == RTN_LOCAL else None))
    assert kernel.routes(proto) == expected


def test_rules(both):
    kernel, ipr = both
    expected = []
    for family, af in AF.items():
        for msg in ipr.get_rules(family=af):
            suppress = msg.get_attr("FRA_SUPPRESS_PREFIXLEN")
            expected.append(Rule(
                priority=msg.get_attr("FRA_PRIORITY") or 0,
                table=msg.get_attr("FRA_TABLE") or msg["table"],
                from_addr=msg.get_attr("FRA_SRC"), from_len=msg["src_len"],
                suppress_prefixlength=None if suppress in (None, 0xFFFFFFFF) else suppress,
                family=family))
    assert kernel.rules() == expected


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def test_attributes_padded_nested_flag_masked_and_cut_short():
    payload = (b"\0" * 4 + _attr(3, b"eth0\0") + _attr(0x8000 | 18, _attr(1, b"veth\0"))
               + struct.pack("=HH", 2, 9))  # a bad length ends the list
    found = dump.attrs(payload, 4)
    assert dump.text(found[3]) == "eth0"
    assert dump.text(dump.attrs(found[18], 0)[1]) == "veth"
    assert set(found) == {3, 18}
    assert dump.u32(None) is None and dump.hwaddr(b"") is None
    assert dump.hwaddr(b"\x02\x00\x00\x00\x00\x0a") == "02:00:00:00:00:0a"


def test_guard_entries(both):
    kernel, ipr = both
    expected = [address_entry(msg) for af in AF.values() for msg in ipr.get_addr(family=af)]
    for af in AF.values():
        expected += [e for e in map(route_entry, ipr.get_routes(family=af)) if e is not None]
    assert kernel.entries() == expected
