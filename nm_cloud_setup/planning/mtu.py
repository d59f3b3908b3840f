"""The MTU of a device: the cloud's where it gives one, the administrator's cap, and
what this tool set undone when the cloud stops giving it.  Pure: no I/O.

Only the cloud's value is ever applied (GCP per NIC, OpenStack per link); nothing is
hard-coded (amazon-ec2-net-utils#170 forced 9001 and broke paths through a NAT gateway
at 8500).  An MTU this tool did not set is never touched: without the cloud's value a
device keeps the one it has, unless it is still the one this tool set, which then goes
back to the profile's own (NetworkManager: the profile's setting; netlink: the value
before the tool changed it).  docs/routing.md, "The MTU".
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from nm_cloud_setup.model import InstanceData, InterfaceData

MIN_CAP = 1280  # RFC 8200's minimum, so a cap suits a NIC of either family
MAX = 65535  # the IPv4 total length field


def limited(instance: InstanceData, enabled: bool = True,
            cap: Optional[int] = None) -> InstanceData:
    """The instance with each NIC's MTU (and its VLAN's parent's) as this run applies it.

    ``enabled`` False (``NM_CLOUD_SETUP_MTU=no``): none at all, so what this tool set
    before goes back.  ``cap`` (``NM_CLOUD_SETUP_MTU_MAX``): a larger MTU is lowered to
    it (config.py keeps it within ``MIN_CAP`` and ``MAX``).
    """
    if enabled and cap is None:
        return instance

    def mtu(value: Optional[int]) -> Optional[int]:
        if not enabled or value is None:
            return None
        return min(value, cap) if cap is not None else value

    def nic(iface: InterfaceData) -> InterfaceData:
        link = iface.link
        if link is not None and link.parent_mtu is not None:
            link = dataclasses.replace(link, parent_mtu=mtu(link.parent_mtu))
        return dataclasses.replace(iface, mtu=mtu(iface.mtu), link=link)

    return dataclasses.replace(instance, interfaces=tuple(nic(i) for i in instance.interfaces))


def wanted(cloud: Optional[int], own: Optional[int], applied: Optional[int],
           ours: bool = False, set_before: Optional[int] = None) -> Optional[int]:
    """The device's MTU after this run (None: the profile's, NetworkManager's automatic).

    ``cloud``: the metadata's (after ``limited``); ``own``: the profile's own (on a
    profile this tool made, the metadata's); ``applied``: the device's now;
    ``set_before``: the MTU this tool set on an earlier run, as its record says.
    """
    if cloud is not None:
        return cloud
    if ours or applied is None:
        return own
    if set_before is not None and applied == set_before:
        return own  # still what this tool set: back to the profile's
    return applied  # another's (the profile's, DHCP's, an administrator's): left


def recorded(wanted_mtu: Optional[int], own: Optional[int], applied: Optional[int],
             set_before: Optional[int] = None) -> Optional[int]:
    """The MTU to record as this tool's once ``wanted_mtu`` is applied, or None.

    One it changes the device to (but the profile's own); one it had set and that is
    still there; never one that was there already.
    """
    if wanted_mtu == applied:
        return set_before if set_before == applied else None
    return None if wanted_mtu == own else wanted_mtu
