"""network_data.json's routes (providers/network_data.py): the default route is the
link's gateway (the first one given), the others go to its table, as the document's
networks, with their host bits cleared; no default route, no gateway."""

from __future__ import annotations

import pytest

from tests.unit.providers.test_network_data import ipv4, ipv6, link, parse


def route(network: str, netmask: str, gateway: str) -> dict:
    return {"network": network, "netmask": netmask, "gateway": gateway}


def test_ipv4_routes_and_the_first_default_one():
    net = ipv4(1, "10.0.0.5", routes=[
        route("10.1.2.3", "255.255.0.0", "10.0.0.254"),   # host bits: cleared
        route("0.0.0.0", "0.0.0.0", "10.0.0.1"),
        route("192.168.0.0", "255.255.255.0", " 10.0.0.253 "),
        route("0.0.0.0", "0.0.0.0", "10.0.0.2"),          # a second default: not taken
        route("10.1.0.0", "255.255.0.0", "10.0.0.254")])  # the same again: once
    (nic,) = parse([link(1)], [net])
    assert (nic.gateway, nic.routes) == ("10.0.0.1", (("10.1.0.0/16", "10.0.0.254"),
                                                      ("192.168.0.0/24", "10.0.0.253")))


@pytest.mark.parametrize("routes", [[], [route("10.9.0.0", "255.255.0.0", "10.0.0.254")]])
def test_no_default_ipv4_route_no_gateway(routes):
    (nic,) = parse([link(1)], [ipv4(1, "10.0.0.5", routes=routes)])
    assert (nic.addresses, nic.gateway, nic.error) == (("10.0.0.5",), None, None)


@pytest.mark.parametrize("default", ["::", "0", " 0 "])
def test_ipv6_routes_and_the_default_one(default):
    net = ipv6(1, "2001:db8::5", routes=[
        route("2001:db8:1::7", "ffff:ffff:ffff:ff00::", "2001:db8::fe"),
        route("::", default, "fe80::1"),
        route("2001:db8:2::9", "48", "2001:db8::fd"),
        route("::", "::", "fe80::2")])
    (nic,) = parse([link(1)], [net])
    assert (nic.ipv6_gateway, nic.routes) == ("fe80::1", (("2001:db8:1::/56", "2001:db8::fe"),
                                                          ("2001:db8:2::/48", "2001:db8::fd")))


@pytest.mark.parametrize("routes", [[], [route("2001:db8:1::", "64", "2001:db8::fe")]])
def test_no_default_ipv6_route_no_gateway(routes):
    (nic,) = parse([link(1)], [ipv6(1, "2001:db8::5", routes=routes)])
    assert (nic.ipv6_addresses, nic.ipv6_gateway, nic.error) == (("2001:db8::5",), None, None)


def test_both_families_routes_ipv4_first():
    net6 = ipv6(1, "2001:db8::5", routes=[route("2001:db8:1::", "64", "2001:db8::fe")])
    net4 = ipv4(1, "10.0.0.5")
    net4["routes"].append(route("10.9.0.0", "255.255.0.0", "10.0.0.254"))
    (nic,) = parse([link(1)], [net6, net4])
    assert nic.routes == (("10.9.0.0/16", "10.0.0.254"), ("2001:db8:1::/64", "2001:db8::fe"))
