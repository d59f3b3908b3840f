"""InterfaceData for the planning tests: ``iface`` (IPv4 only) and ``dual`` (dual stack),
each a NIC with two addresses unless told otherwise."""

from __future__ import annotations

from nm_cloud_setup.model import InterfaceData


def iface(index=0, addresses=("10.0.1.10", "10.0.1.11"), subnet="10.0.1.0/24", **kw):
    return InterfaceData("02:00:00:00:00:01", index, tuple(addresses), subnet, **kw)


def dual(index=1, addresses=("10.0.1.10", "10.0.1.11"), ipv6=("2600:1f18::10", "2600:1f18::11"),
         **kw):
    return InterfaceData("02:00:00:00:00:02", index, tuple(addresses),
                         "10.0.1.0/24" if addresses else None, ipv6_addresses=tuple(ipv6),
                         ipv6_subnet="2600:1f18::/64", **kw)
