"""Profiles of this tool's own: OpenStack's NICs of static networks, its VLANs and bonds.

What gets one, decided over the backend's answers (NetworkManager makes them in
memory; the netlink backend brings a NIC up and configures it), when
``NM_CLOUD_SETUP_ALLOW_NEW_CONN`` allows (default: yes for OpenStack and OCI):
- a NIC whose networks are static (``InterfaceData.static``) with no active
  profile, or only NetworkManager's own default one (which waits for a DHCP
  server that is not there).  An administrator's profile is used as it is
  (Reapply); the skip flag is kept.  The profile holds the whole plan: the
  addresses, routes (``layout.static_base`` and the usual layout), MTU and name
  servers.  Later runs treat it as any other device.
- a VLAN or bond the metadata names, when its device is not there.  A VLAN's
  parent NIC with no profile gets one that only carries it; a bond's members
  become its slaves, unless an administrator's profile manages one (then the bond
  is not made, and the log says why).
Ours go with their device (a NIC's), or when the metadata no longer names them
(a VLAN's or bond's).  OCI bare metal's VNICs behind a VLAN get upstream's MACVLAN
and VLAN profiles (``oci_vlan_device``).  A backend declares which of these it
makes (``backends/base.py``: ``MakesNics``, ``MakesLinks``, ``MakesOciVlans``).
"""

from __future__ import annotations

import logging
from typing import List, Mapping, Optional, Tuple

from nm_cloud_setup.backends.base import Backend, MakesLinks, MakesNics, MakesOciVlans
from nm_cloud_setup.errors import BackendError, NoAppliedConnectionError
from nm_cloud_setup.model import Device, InstanceData, InterfaceData, IpConfig
from nm_cloud_setup.planning import layout

LOG = logging.getLogger(__name__)


def wanted_for(backend: Backend, iface: InterfaceData, allow_new: bool) -> bool:
    """Whether a NIC gets a profile of its own when it has none (or a generated one)."""
    return (allow_new and isinstance(backend, MakesNics) and iface.link is None
            and iface.error is None and iface.static)


def takes_over(backend: Backend, device: Device, iface: InterfaceData, allow_new: bool) -> bool:
    """A static NIC whose active profile is NetworkManager's own default one."""
    return (wanted_for(backend, iface, allow_new) and isinstance(backend, MakesNics)
            and backend.generated(device))


def make_nic(backend: Backend, device: Device, iface: InterfaceData, wanted: IpConfig,
             dry_run: bool = False) -> Tuple[bool, Optional[str], List[str]]:
    """Make the NIC's profile: (changed, error, what a dry run would do).  Only for a NIC
    ``wanted_for`` says gets one (so the backend ``MakesNics``)."""
    assert isinstance(backend, MakesNics)
    what = (f"add an in-memory profile for {device.ifname}: "
            + " ".join(str(a) for a in wanted.addresses)
            + (f", name servers {' '.join(wanted.dns)}" if wanted.dns else ""))
    if dry_run:
        return False, None, [what]
    LOG.debug("config device %s: its networks are static and it has no profile of its own: "
              "making one", iface.mac)
    try:
        backend.make_nic(device, iface, wanted)
    except BackendError as err:
        LOG.debug("config device %s: %s", iface.mac, err)
        return False, str(err), []
    LOG.info("config device %s: %s", iface.mac, what.replace("add an", "added an"))
    return True, None, []


def virtual_device(backend: Backend, iface: InterfaceData, by_mac: Mapping[str, Device],
                   allow_new: bool, wanted: IpConfig, errors: List[str],
                   changed: List[str]) -> Optional[Device]:
    """The device of a VLAN or bond the metadata names; made when it is not there (and
    allowed).  A failure to make it is added to ``errors``."""
    link = iface.link
    assert link is not None
    if not isinstance(backend, MakesLinks):
        LOG.warning("config device %s: the %s backend makes no %s (%s)", iface.mac,
                    backend.name, link.kind, link.ifname)
        return None
    device = backend.device_named(link.ifname, iface.mac)
    if device is not None or not allow_new:
        return device
    try:
        if link.kind == "vlan":
            parent = _vlan_parent(backend, iface, by_mac)
            if parent is None:
                return None
            backend.make_vlan(iface, parent, wanted)
        else:
            members = _bond_members(backend, iface, by_mac)
            if members is None:
                return None
            backend.make_bond(iface, wanted, members)
    except BackendError as err:
        LOG.warning("config device %s: %s not made: %s", iface.mac, link.ifname, err)
        errors.append(f"{link.ifname} ({iface.mac}): {err}")
        return None
    changed.append(link.ifname)
    LOG.info("config device %s: %s %s made (in memory)", iface.mac, link.kind, link.ifname)
    return backend.device_named(link.ifname, iface.mac)


def _vlan_parent(backend: MakesLinks, iface: InterfaceData, by_mac: Mapping[str, Device]
                 ) -> Optional[str]:
    """The VLAN's parent device name; a parent NIC with no profile gets one that only
    carries it."""
    link = iface.link
    assert link is not None
    if link.parent_bond is not None:
        return link.parent_bond
    parent = by_mac.get(link.parent_mac or "")
    if parent is None:
        LOG.info("config device %s: the parent %s of %s is not here", iface.mac,
                 link.parent_mac, link.ifname)
        return None
    if _free(backend, parent):
        backend.make_carrier(parent, link.parent_mtu)
    return parent.ifname


def _bond_members(backend: MakesLinks, iface: InterfaceData, by_mac: Mapping[str, Device]
                  ) -> Optional[List[Device]]:
    """The bond's member devices, or None when an administrator's profile manages one."""
    link = iface.link
    assert link is not None
    members = []
    for mac in link.members:
        device = by_mac.get(mac)
        if device is None:
            continue
        if not _free(backend, device):
            LOG.warning("config device %s: %s (%s) is managed by a profile that is not this "
                        "tool's: %s is not made", iface.mac, device.ifname, mac, link.ifname)
            return None
        members.append(device)
    return members or None


def _free(backend: MakesLinks, device: Device) -> bool:
    """No active profile, or one of ours, or NetworkManager's own default one."""
    assert isinstance(backend, Backend)
    try:
        current = backend.current(device)
    except NoAppliedConnectionError:
        return True
    return current.ours or backend.generated(device)


def oci_vlan_device(backend: Backend, iface: InterfaceData, by_mac: Mapping[str, Device],
                    allow_new: bool, errors: List[str], changed: List[str]) -> Optional[Device]:
    """The VLAN device of an OCI bare-metal VNIC, found by its MAC (whatever made it:
    upstream, this tool, an earlier version of it); created (MACVLAN + VLAN, upstream's
    names) when allowed."""
    name = f"macvlan{iface.index}.{iface.vlan_tag}"
    if not isinstance(backend, MakesOciVlans):
        LOG.warning("config device %s: VLAN %s is not supported by the %s backend", iface.mac,
                    iface.vlan_tag, backend.name)
        return None
    device = backend.device_by_name(name, iface.mac)
    parent = by_mac.get(iface.parent_mac or "")
    if device is None and allow_new and parent is None:
        LOG.debug("config device %s: has vlan id %d but no parent device", iface.mac,
                  iface.vlan_tag)
    if device is not None or not allow_new or parent is None:
        return device
    address = layout.cloud_entries(iface).addresses[0]
    try:
        name = backend.create_vlan(iface.mac, parent.ifname, parent.mac, iface.vlan_tag,
                                   address, iface.index)
    except BackendError as err:
        errors.append(f"{name} ({iface.mac}): {err}")
        return None
    changed.append(name)
    return backend.device_by_name(name, iface.mac)


def remove_stale(backend: Backend, instance: InstanceData, changed: List[str]) -> None:
    """Remove the profiles this tool made whose device is gone, and (when every link's
    data was read) the VLANs and bonds the metadata no longer names."""
    if not isinstance(backend, MakesNics):
        return
    named = None if instance.failed else {i.link.ifname for i in instance.interfaces
                                          if i.link is not None}
    try:
        changed += backend.remove_stale(named)
    except BackendError as err:
        LOG.warning("cannot remove the profiles of devices that are gone: %s", err)
