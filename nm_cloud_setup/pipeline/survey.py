"""Reading and planning every device of a run, before anything changes.

Each NIC in the metadata is read (the backend's ``current``) and planned
(``planning/planner.py``); the devices not in sync are ``Pending``.  NICs whose metadata
failed or is missing are read too, for what they hold: nothing they hold is given
to another NIC, except what the metadata now gives another NIC (a move they
missed), which they give up.  What the backend left of NICs that are gone is
removed first.  Log lines keep upstream nm-cloud-setup's wording.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from nm_cloud_setup.backends.base import Backend, ListsForeign, RemovesLeftovers
from nm_cloud_setup.errors import BackendError, NoAppliedConnectionError
from nm_cloud_setup.model import Address, Current, Device, InstanceData, InterfaceData, IpConfig
from nm_cloud_setup.pipeline import own_profiles
from nm_cloud_setup.pipeline.cancel import Cancellation
from nm_cloud_setup.pipeline.outcome import DeviceReport, Outcome
from nm_cloud_setup.planning import delta
from nm_cloud_setup.planning.exclusion import NOTHING, Exclusion
from nm_cloud_setup.planning.planner import Planner
from nm_cloud_setup.planning.tables import MAX_INTERFACES

LOG = logging.getLogger(__name__)


Planned = Callable[[Current], IpConfig]  # a device's wanted state, from what it has


@dataclass
class Pending:
    """A device that needs a change: read and planned, not yet (fully) applied."""

    device: Device
    planned: Planned
    current: Optional[Current]  # None once applied: read again before the next step
    wanted: IpConfig
    loses: bool
    gains: bool
    failed: bool = False
    make: Optional[InterfaceData] = None  # a NIC of static networks given a profile of ours

    @property
    def name(self) -> str:
        return f"{self.device.ifname} ({self.device.mac})"


@dataclass
class Run:
    """What one run's apply phases share."""

    backend: Backend
    planner: Planner
    cancel: Cancellation
    outcome: Outcome
    deadline: Optional[float]
    # ifname -> the addresses it holds or routes from (delta.claimed)
    holding: Dict[str, Set[str]] = field(default_factory=dict)
    elsewhere: Set[str] = field(default_factory=set)  # addresses leaving for another device
    exclude: Exclusion = NOTHING
    excluded: Set[str] = field(default_factory=set)  # MACs of the NICs left alone

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def result(self, pending: Pending, changed: bool, error: Optional[str]) -> None:
        if changed and pending.device.ifname not in self.outcome.changed:
            self.outcome.changed.append(pending.device.ifname)
        if error:
            pending.failed = True
            self.outcome.errors.append(f"{pending.name}: {error}")
            for report in self.outcome.devices:
                if report.ifname == pending.device.ifname:
                    report.error = error


def remove_leftovers(work: Run, devices: Sequence[Device]) -> None:
    """What the backend added for NICs that are gone (unplugged): their rules would send
    their addresses, given to another NIC later, to the gone NIC's tables."""
    if not isinstance(work.backend, RemovesLeftovers):
        return
    work.cancel.check(changed=False)
    with work.cancel.critical():
        try:
            gone = work.backend.remove_leftovers(devices)
        except BackendError as err:
            work.outcome.errors.append(f"cannot remove what was left of gone NICs: {err}")
            return
    for ifname in gone:
        LOG.info("removed what was configured for %s, which is gone", ifname)
        work.outcome.changed.append(ifname)


def read_all(work: Run, instance: InstanceData, devices: Sequence[Device], allow_new: bool,
             dry_run: bool) -> List[Pending]:
    """Read and plan every device in the metadata; those that need a change."""
    by_mac = {d.mac: d for d in devices}
    pending = []
    for number, iface in enumerate(instance.interfaces):
        if work.out_of_time():
            left = len(instance.interfaces) - number
            work.outcome.errors.append(f"the apply time budget is used up; {left} NIC(s) left "
                                       "for the next run")
            return []
        if iface.error is not None:
            LOG.debug("config device %s: skip because meta data not successfully fetched",
                      iface.mac)
            LOG.warning("config device %s: keeping its configuration: %s", iface.mac,
                        iface.error)
            work.outcome.errors.append(f"{iface.mac}: {iface.error}")
            continue
        if not work.planner.families:
            LOG.warning("config device %s: not changed: other NICs' data is missing, so it is "
                        "unknown whether this instance has several addresses", iface.mac)
            continue
        if iface.index >= MAX_INTERFACES:
            LOG.debug("config device %s: skip because number of supported interfaces reached",
                      iface.mac)
            continue
        reason = work.exclude.of_nic(iface)
        if reason is not None:
            _leave_alone(work, iface, by_mac, reason)
            continue
        device = _device(work, iface, by_mac, allow_new and not dry_run)
        if device is None:
            LOG.debug("config device %s: skip because device not found", iface.mac)
            continue
        report = DeviceReport(device.ifname, iface.mac, iface)
        work.outcome.devices.append(report)
        found, error = plan_device(work.backend, device, iface, work.planner, report, dry_run,
                                   allow_new)
        if error:
            report.error = error
            work.outcome.errors.append(f"{device.ifname} ({iface.mac}): {error}")
        if found is not None:
            if found.current is not None:
                work.holding[device.ifname] = set(delta.claimed(found.current.applied))
            if not report.in_sync:
                pending.append(found)
    for mac in instance.unmatched:
        LOG.debug("config device %s: skip because device not found", mac)
    listed = {iface.mac for iface in instance.interfaces}
    for device in devices:
        if device.mac not in listed:  # a local NIC the metadata does not list
            LOG.debug("config device %s: skip because meta data not successfully fetched",
                      device.mac)
    return pending


def _leave_alone(work: Run, iface: InterfaceData, by_mac: Dict[str, Device],
                reason: str) -> None:
    """A NIC another program owns: reported, never read."""
    LOG.info("config device %s: left alone: %s", iface.mac, reason)
    work.excluded.add(iface.mac)
    device = by_mac.get(iface.mac)
    work.outcome.devices.append(DeviceReport(device.ifname if device else "", iface.mac, iface,
                                             skipped=f"left alone: {reason}"))


def _device(work: Run, iface: InterfaceData, by_mac: Dict[str, Device],
            allow_new: bool) -> Optional[Device]:
    """The NIC's device; an OCI VLAN's or an OpenStack VLAN's or bond's found by name
    (made when missing and ``allow_new``)."""
    if iface.vlan_tag:
        with work.cancel.critical():
            return own_profiles.oci_vlan_device(work.backend, iface, by_mac, allow_new,
                                                work.outcome.errors, work.outcome.changed)
    if iface.link is not None:
        with work.cancel.critical():
            return own_profiles.virtual_device(
                work.backend, iface, by_mac, allow_new,
                work.planner.made(iface),
                work.outcome.errors, work.outcome.changed)
    return by_mac.get(iface.mac)


def plan_device(backend: Backend, device: Device, iface: InterfaceData, planner: Planner,
                report: DeviceReport, dry_run: bool, allow_new: bool = False
                ) -> Tuple[Optional[Pending], Optional[str]]:
    """Read one device and plan it: (the device, None), or (None, None) when it is skipped,
    or (None, error).  ``report`` receives what was found and planned.  ``allow_new``: a
    NIC of static networks without a profile (or with NetworkManager's default one) is
    to get one of ours (``new_profiles``), in the apply's second phase."""
    mac = iface.mac
    LOG.debug('config device %s: configuring "%s" (%s)...', mac, device.ifname, device.handle)
    make = own_profiles.wanted_for(backend, iface, allow_new)
    try:
        current, error = read(backend, device, mac, report, absent_raises=make)
    except NoAppliedConnectionError:
        return _to_make(backend, device, iface, planner, report, dry_run), None
    if current is not None and make and not current.ours \
            and own_profiles.takes_over(backend, device, iface, allow_new):
        return _to_make(backend, device, iface, planner, report, dry_run), None
    if current is None:
        return None, error
    for family, reason in planner.families_left(iface, current):
        LOG.debug("config device %s: IPv%d left as it is: %s", mac, family, reason)
    wanted = planner(iface, current)
    held_back = planner.held_back(iface, current)
    if held_back:
        LOG.warning("config device %s: keeping %s for now: another NIC's metadata is "
                    "missing, and it may have moved there", mac, ", ".join(held_back))
    report.applied, report.wanted = current.applied, wanted
    report.in_sync = in_sync = backend.in_sync(current, wanted)
    found = Pending(device, lambda now: planner(iface, now), current, wanted,
                    delta.loses(current.applied, wanted), delta.gains(current.applied, wanted))
    if dry_run and not in_sync:  # only a dry run or status shows them
        report.commands = backend.describe(device, current, wanted)
    if isinstance(backend, ListsForeign) and (dry_run or (not in_sync
                                                          and backend.reads_kernel())):
        report.foreign = backend.foreign(device, current, _known(iface, current, wanted),
                                         planner.tables)
        for item in report.foreign:  # never removed: in its ranges, said louder
            LOG.log(logging.WARNING if "this tool's" in item else logging.DEBUG,
                    "config device %s: left in place (another program's): %s", mac, item)
    if in_sync:
        reason = " because there are not multiple IP addresses" if 4 in planner.single_families \
            else ""
        LOG.debug("config device %s: device needs no update to applied connection %s%s. "
                  "Skip", mac, current.label, reason)
    elif dry_run:
        LOG.debug("config device %s: would reapply connection %s (dry run)", mac, current.label)
    elif not found.loses and not found.gains:  # only the order or the MTU changes
        found.gains = True
    return found, None


def _known(iface: InterfaceData, current: Current, wanted: IpConfig) -> IpConfig:
    """What the run accounts for on a device: what it holds and is to hold, and the
    metadata's addresses (the primaries among them)."""
    listed = tuple(Address(a, 0) for a in iface.addresses + iface.ipv6_addresses)
    return delta.merged(delta.merged(current.applied, wanted), IpConfig(listed))


def _to_make(backend: Backend, device: Device, iface: InterfaceData, planner: Planner,
             report: DeviceReport, dry_run: bool) -> Pending:
    """A NIC of static networks that is to get a profile of ours, holding the whole plan."""
    wanted = planner.made(iface)
    report.wanted, report.in_sync = wanted, False
    if dry_run:
        _, _, report.commands = own_profiles.make_nic(backend, device, iface, wanted, True)
    return Pending(device, lambda now: wanted, None, wanted, loses=False, gains=True,
                   make=iface)


def read(backend: Backend, device: Device, mac: str,
         report: Optional[DeviceReport] = None, absent_raises: bool = False
         ) -> Tuple[Optional[Current], Optional[str]]:
    """The device's current state: (current, None), (None, None) if skipped, (None, error).
    ``absent_raises``: a device without an applied connection raises
    ``NoAppliedConnectionError`` (it is to get one) instead of being skipped."""
    try:
        current = backend.current(device)
    except NoAppliedConnectionError as err:
        if absent_raises:
            raise
        LOG.debug("config device %s: device has no applied connection (%s). Skip", mac, err)
        if report is not None:
            report.skipped = f"no applied connection ({err})"
        return None, None
    except BackendError as err:
        return None, f"cannot read the device: {err}"
    if current.skip:
        LOG.debug("config device %s: %s", mac, current.skip)
        if report is not None:
            report.skipped = current.skip
        return None, None
    return current, None


def read_others(work: Run, devices: Sequence[Device], instance: InstanceData,
                pending: List[Pending]) -> List[Pending]:
    """The devices not read yet: NICs whose metadata failed or is missing keep their
    configuration, except the addresses the metadata now gives another NIC (a move the
    NIC missed): those it gives up.  Until then the other NIC does not get them."""
    arriving = {a for p in pending
                for a in set(delta.held(p.wanted)) - set(delta.held(p.current.applied
                                                                 if p.current else IpConfig()))}
    release = []
    for device in devices:
        if device.ifname in work.holding or device.mac in work.excluded \
                or work.exclude.of_device(device.mac, device.ifname):
            continue
        iface = instance.by_mac(device.mac)
        if iface is not None and iface.error is None and work.planner.families:
            continue  # read above, or deliberately skipped (no applied connection, ...)
        current, error = read(work.backend, device, device.mac)
        if current is None:
            LOG.debug("config device %s: cannot tell what it holds (%s)", device.mac, error)
            continue
        work.holding[device.ifname] = set(delta.claimed(current.applied))
        given = sorted(set(delta.held(current.applied)) & arriving)
        if given:
            LOG.info("config device %s: giving up %s: the metadata gives it to another NIC",
                     device.mac, ", ".join(given))
            release.append(Pending(
                device, lambda now, given=given: delta.withheld(now.applied, given), current,
                delta.withheld(current.applied, given), loses=True, gains=False))
    return release
