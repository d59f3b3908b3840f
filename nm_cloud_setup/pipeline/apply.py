"""Configuring every device of a run: read all, plan all, then remove before adding.

Within one run, whatever leaves a device (an address moved to another NIC, its
rules, its routes) is taken away before any device is given what arrives:

1. every device is read and planned (``wanted``); devices already as wanted are
   left alone (no Reapply, no netlink change);
2. phase 1: each device that loses something goes to ``delta.kept`` (what it keeps,
   nothing added), or straight to ``wanted`` when it gains nothing;
3. phase 2: each device that gains something goes to ``wanted``, read again
   first where phase 1 changed it (a fresh version id).  An address another
   device still holds (its removal failed, or its metadata could not be read) is
   withheld, with an error, until a later run finds it free.

While some NIC's metadata is missing, no address leaves any NIC: it may be moving
to that one (``planning/planner.py``).

SIGTERM: a device being applied is always finished first.  When an address moves
between devices, the whole of both phases is one critical section, so a move is
never cut in half (taken from one NIC, not yet given to the other).
Log lines keep upstream nm-cloud-setup's wording.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import AbstractSet, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from nm_cloud_setup.backends.base import Backend, CommitsLater, ListsForeign
from nm_cloud_setup.errors import BackendError, VersionMismatchError
from nm_cloud_setup.model import FAMILIES, Current, Device, InstanceData, InterfaceData, IpConfig
from nm_cloud_setup.pipeline import own_profiles
from nm_cloud_setup.pipeline.cancel import Cancellation
from nm_cloud_setup.pipeline.outcome import DeviceReport, Outcome
from nm_cloud_setup.pipeline.survey import (Pending, Planned, Run, plan_device, read, read_all,
                                            read_others, remove_leftovers)
from nm_cloud_setup.planning import delta
from nm_cloud_setup.planning.exclusion import NOTHING, Exclusion
from nm_cloud_setup.planning.planner import Planner
from nm_cloud_setup.planning.tables import UPSTREAM, Tables

LOG = logging.getLogger(__name__)

MAX_REAPPLY_TRIES = 5

Target = Callable[[IpConfig, IpConfig], IpConfig]  # (applied, wanted) -> what to apply


def configure_all(backend: Backend, instance: InstanceData, devices: Sequence[Device],
                  cancel: Cancellation, outcome: Outcome, allow_new: bool = False,
                  dry_run: bool = False, deadline: Optional[float] = None,
                  tables: Tables = UPSTREAM, exclude: Exclusion = NOTHING) -> None:
    """Every device of the run, in the two phases above.  ``tables``: the layout's
    numbers; ``exclude``: the NICs left alone (never read, never changed)."""
    work = Run(backend, Planner.for_instance(instance, tables), cancel, outcome, deadline,
               exclude=exclude)
    if not dry_run:
        remove_leftovers(work, devices)
        if allow_new:
            with cancel.critical():
                own_profiles.remove_stale(backend, instance, outcome.changed)
    pending = read_all(work, instance, devices, allow_new, dry_run)
    if isinstance(backend, ListsForeign) and (dry_run or (pending and backend.reads_kernel())):
        _foreign_rules(work)
    if dry_run or not pending:
        return
    cancel.check(changed=False)
    if any(p.gains for p in pending):
        pending += read_others(work, devices, instance, pending)
    moving, work.elsewhere = _moving(pending)
    with cancel.critical() if moving else contextlib.nullcontext():
        if moving:
            LOG.debug("addresses move between devices (%s): removing before adding, "
                      "SIGTERM waits for both", ", ".join(sorted(moving)))
        _phase(work, [p for p in pending if p.loses], _remove_step)
        _phase(work, [p for p in pending if p.gains and not p.failed], _add_step)


def _foreign_rules(work: Run) -> None:
    """The rules in the layout's priorities that are no device's of the run: another
    program's, left in place and said (status shows them)."""
    assert isinstance(work.backend, ListsForeign)
    known = [rule for report in work.outcome.devices for config in (report.applied,
                                                                     report.wanted)
             if config is not None for rule in config.rules]
    work.outcome.foreign_rules = work.backend.foreign_rules(known, work.planner.tables)
    for item in work.outcome.foreign_rules:
        LOG.warning("left in place (another program's): %s", item)


def _moving(pending: List[Pending]) -> Tuple[Set[str], Set[str]]:
    """Addresses that leave a device and arrive at one (the same one, with another prefix,
    or another one); and those of them that arrive at another device."""
    leaving: Dict[str, Set[str]] = {}
    arriving: Dict[str, Set[str]] = {}
    for item in pending:
        applied = item.current.applied if item.current is not None else IpConfig()
        kept = set(delta.held(delta.kept(applied, item.wanted)))
        for address in set(delta.held(applied)) - kept:
            leaving.setdefault(address, set()).add(item.device.ifname)
        for address in set(delta.held(item.wanted)) - kept:
            arriving.setdefault(address, set()).add(item.device.ifname)
    moving = set(leaving) & set(arriving)
    return moving, {a for a in moving if arriving[a] - leaving[a]}


def _phase(work: Run, steps: List[Pending], step: Callable[[Run, Pending], None]) -> None:
    for number, pending in enumerate(steps):
        if work.out_of_time():
            work.outcome.errors.append(f"the apply time budget is used up; {len(steps) - number} "
                                       "NIC(s) left for the next run")
            for rest in steps[number:]:
                rest.failed = True
            return
        with work.cancel.critical():
            step(work, pending)


def _remove_step(work: Run, pending: Pending) -> None:
    """Phase 1: take away what leaves the device; all of ``wanted`` if nothing arrives."""
    if pending.gains:
        LOG.debug("config device %s: removing first what leaves it, before any device gets "
                  "what arrives", pending.device.mac)
        elsewhere = _held_elsewhere(work, pending.device.ifname)
        ours = pending.current is not None and pending.current.ours

        def target(applied: IpConfig, wanted: IpConfig) -> IpConfig:
            kept = delta.kept(applied, wanted)
            if not ours or not _empties_a_family(applied, kept):
                return kept
            # A profile of ours has manual addressing, which takes no empty address
            # list: what arrives comes at once, but what another device still holds.
            return _arriving_but(applied, wanted, elsewhere)
    else:
        target = _wanted
    assert pending.current is not None
    before = set(delta.held(pending.current.applied))
    changed, error, applied = _apply(work.backend, pending.device, pending.planned,
                                     pending.current, target, work.deadline)
    pending.current = None
    if applied is not None:
        now = set(delta.claimed(applied))
        leaving = (before - now) & work.elsewhere
        if changed and not _removal_done(work.backend, pending, leaving):
            now |= leaving  # not confirmed gone: not to be given elsewhere
        work.holding[pending.device.ifname] = now
    work.result(pending, changed, error)


def _removal_done(backend: Backend, pending: Pending, addresses: Set[str]) -> bool:
    """Whether addresses that move to another device have really left this one.

    A backend that commits to the kernel after answering (NetworkManager) says when;
    the others are done when apply returns."""
    if not addresses or not isinstance(backend, CommitsLater):
        return True
    try:
        if backend.wait_removed(pending.device, addresses):
            return True
    except BackendError as err:
        LOG.debug("config device %s: cannot tell whether it let go of %s: %s",
                  pending.device.mac, ", ".join(sorted(addresses)), err)
    LOG.warning("config device %s: %s not yet gone from it: not given to another device in "
                "this run", pending.device.mac, ", ".join(sorted(addresses)))
    return False


def _add_step(work: Run, pending: Pending) -> None:
    """Phase 2: the whole of ``wanted``, less addresses another device still holds."""
    ifname = pending.device.ifname
    elsewhere = _held_elsewhere(work, ifname)

    def target(applied: IpConfig, wanted: IpConfig) -> IpConfig:
        return _arriving_but(applied, wanted, elsewhere)

    if pending.make is not None:  # a NIC of static networks: a profile of ours
        applied = target(IpConfig(), pending.wanted)
        changed, error, _ = own_profiles.make_nic(work.backend, pending.device, pending.make,
                                                  applied)
        applied = None if error else applied
    else:
        changed, error, applied = _apply(work.backend, pending.device, pending.planned,
                                         pending.current, target, work.deadline)
    pending.current = None
    if applied is not None:
        work.holding[ifname] = set(delta.claimed(applied))
        blocked = sorted(set(delta.held(pending.wanted)) - set(delta.held(applied)))
        if blocked and not error:
            holders = sorted({elsewhere[a] for a in blocked if a in elsewhere})
            error = (f"{', '.join(blocked)} still on {', '.join(holders)}: added once it has "
                     "left there")
            LOG.warning("config device %s: %s", pending.device.mac, error)
    work.result(pending, changed, error)


def _held_elsewhere(work: Run, ifname: str) -> Dict[str, str]:
    """Address -> the other device that holds it (or routes from it)."""
    elsewhere: Dict[str, str] = {}
    for other, addresses in work.holding.items():
        if other != ifname:
            for address in addresses:
                elsewhere.setdefault(address, other)
    return elsewhere


def _arriving_but(applied: IpConfig, wanted: IpConfig, elsewhere: Dict[str, str]) -> IpConfig:
    """``wanted``, less the arriving addresses another device still holds."""
    arriving = set(delta.held(wanted)) - set(delta.held(applied))
    return delta.withheld(wanted, arriving & elsewhere.keys())


def _empties_a_family(applied: IpConfig, kept: IpConfig) -> bool:
    """Whether ``kept`` has no address of a family ``applied`` has addresses of."""
    return bool({a.family for a in applied.addresses} - {a.family for a in kept.addresses})


def _wanted(applied: IpConfig, wanted: IpConfig) -> IpConfig:
    return wanted


def _apply(backend: Backend, device: Device, planned: Planned, current: Optional[Current],
           target: Target, deadline: Optional[float]
           ) -> Tuple[bool, Optional[str], Optional[IpConfig]]:
    """Bring one device to ``target(applied, wanted)``, reading it again after a version-id
    mismatch (or first, when ``current`` is None); (changed, error, what it now holds)."""
    mac = device.mac
    for _ in range(MAX_REAPPLY_TRIES):
        if current is None:
            current, error = read(backend, device, mac)
            if current is None:
                return False, error, None
        wanted = target(current.applied, planned(current))
        if backend.in_sync(current, wanted):
            LOG.debug("config device %s: device needs no update to applied connection %s. "
                      "Skip", mac, current.label)
            return False, None, wanted
        LOG.debug("config device %s: reapply connection %s", mac, current.label)
        try:
            backend.apply(device, current, wanted)
        except VersionMismatchError:
            if deadline is not None and time.monotonic() > deadline:
                return False, "the applied connection changed meanwhile and the apply time " \
                    "budget is used up; left for the next run", None
            LOG.debug("config device %s: applied connection changed in the meantime. Retry...",
                      mac)
            current = None
            continue
        except BackendError as err:
            LOG.debug("config device %s: failure to reapply connection %s: %s", mac,
                      current.label, err)
            return False, f"failure to reapply connection {current.label}: {err}", None
        LOG.debug("config device %s: connection %s reapplied", mac, current.label)
        return True, None, wanted
    return False, (f"the applied connection changed {MAX_REAPPLY_TRIES} times while it was "
                   "being updated; giving up until the next run"), None


def configure_device(backend: Backend, device: Device, iface: InterfaceData,
                     single: Union[bool, AbstractSet[int]],
                     report: Optional[DeviceReport] = None, dry_run: bool = False,
                     deadline: Optional[float] = None,
                     families: AbstractSet[int] = frozenset(FAMILIES)
                     ) -> Tuple[bool, Optional[str]]:
    """Bring one device to its planned state on its own; (changed, error).

    ``single``: True, or the families for which the instance is single-address;
    ``families``: those to plan (the others stay as they are applied).  ``report``
    receives what was found and planned; with ``dry_run`` nothing is applied.
    """
    report = report or DeviceReport(device.ifname, iface.mac, iface)
    planner = Planner(single, families)
    found, error = plan_device(backend, device, iface, planner, report, dry_run)
    if found is None or report.in_sync or dry_run:
        return False, error
    changed, error, _ = _apply(backend, device, found.planned, found.current, _wanted, deadline)
    return changed, error
