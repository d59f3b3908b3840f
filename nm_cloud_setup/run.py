"""The pipeline: detect -> list devices -> get config -> plan -> apply, device by device.

Log lines keep upstream nm-cloud-setup's wording (see the project README).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import (TYPE_CHECKING, AbstractSet, Callable, Iterator, List, Optional, Sequence,
                    Tuple, Union)

from nm_cloud_setup import __version__, choice, dmi, new_profiles, plan
from nm_cloud_setup.config import PROVIDERS as PROVIDER_KEYS, Settings
from nm_cloud_setup.errors import (BackendError, Cancelled, CloudSetupError,
                                   NoAppliedConnectionError, NotRunningError,
                                   VersionMismatchError)
from nm_cloud_setup.model import (FAMILIES, Current, Device, Identity, InstanceData,
                                  InterfaceData, IpConfig)

LOG = logging.getLogger(__name__)

MAX_REAPPLY_TRIES = 5
DETECT_NAMES = {"ec2": "ec2", "azure": "azure", "gcp": "GCP", "aliyun": "aliyun", "oci": "oci",
                "openstack": "openstack", "digitalocean": "digitalocean", "hetzner": "hetzner"}


if TYPE_CHECKING:  # typing.Protocol costs import time; the annotations need it only here
    from typing import Protocol

    class Backend(Protocol):
        name: str

        def devices(self, map_interfaces: dict) -> List[Device]: ...

        def current(self, device: Device) -> Current: ...

        def in_sync(self, current: Current, wanted: IpConfig) -> bool: ...

        def apply(self, device: Device, current: Current, wanted: IpConfig) -> None: ...

        def describe(self, device: Device, current: Current, wanted: IpConfig) -> List[str]: ...

        def close(self) -> None: ...


class Cancellation:
    """SIGTERM handling: cancel at once, except inside ``critical()``, where it waits."""

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0

    def request(self) -> None:
        self.requested = True
        if self._depth == 0:
            raise Cancelled("cancelled by SIGTERM before reconfiguration")

    def check(self) -> None:
        if self.requested:
            raise Cancelled("cancelled by SIGTERM; the device in hand was finished first")

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self.check()


@dataclass
class DeviceReport:
    """One NIC of a run: its metadata, what is applied, what is wanted, and the commands."""

    ifname: str
    mac: str
    metadata: InterfaceData
    applied: Optional[IpConfig] = None
    wanted: Optional[IpConfig] = None
    skipped: Optional[str] = None
    in_sync: Optional[bool] = None
    commands: List[str] = field(default_factory=list)


@dataclass
class Outcome:
    provider: Optional[str] = None
    backend: Optional[str] = None
    instance: Optional[InstanceData] = None
    changed: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    devices: List[DeviceReport] = field(default_factory=list)
    dmi: Optional[dmi.DmiIdentity] = None
    identity: Optional[Identity] = None
    identity_error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Pipeline:
    """The collaborators of a run, each with side effects, passed in."""

    settings: Settings
    make_provider: Callable[[str], object]
    make_backend: Callable[[], Backend]
    cancel: Cancellation = field(default_factory=Cancellation)
    dry_run: bool = False
    apply_budget: float = 120.0
    on_metadata: Callable[[InstanceData], None] = lambda instance: None
    with_identity: bool = False  # ``status``: also fetch who the instance is
    choice_grace: float = choice.GRACE


def run(pipe: Pipeline) -> Outcome:
    LOG.debug("nm-cloud-setup %s starting...", __version__)
    outcome = Outcome()
    provider = detect(pipe, outcome)
    if provider is None:
        # As upstream: a warning when a provider was enabled but did not answer.
        LOG.log(logging.WARNING if pipe.settings.enabled else logging.INFO,
                "no provider detected")
        return outcome
    outcome.provider = provider.name
    try:
        backend = pipe.make_backend()
        outcome.backend = backend.name
    except NotRunningError as err:
        LOG.info("NetworkManager is not running")
        outcome.errors.append(str(err))
        return outcome
    except BackendError as err:
        LOG.info("failure to talk to NetworkManager: %s", err)
        outcome.errors.append(f"failure to talk to NetworkManager: {err}")
        return outcome
    try:
        _configure(pipe, provider, backend, outcome)
    finally:
        backend.close()
    return outcome


def _configure(pipe: Pipeline, provider, backend: Backend, outcome: Outcome) -> None:
    settings = pipe.settings
    if settings.map_interfaces_raw is not None:
        LOG.debug('test: map interfaces via NM_CLOUD_SETUP_MAP_INTERFACES="%s"',
                  settings.map_interfaces_raw)
        for ifname, mac in settings.map_interfaces.items():
            LOG.debug('test:  map "%s" -> %s', ifname, mac)  # upstream's two spaces
    devices = backend.devices(settings.map_interfaces)
    LOG.debug("found interfaces: %s", ", ".join(sorted(d.mac for d in devices)) or "none")
    LOG.debug("get-config: starting")
    try:
        instance = provider.get_config({d.mac: d.ifname for d in devices})
    except CloudSetupError as err:
        if isinstance(err, Cancelled):
            LOG.debug("get-config: cancelled")
            raise
        LOG.debug("get-config: failed: %s", err)
        LOG.info("failure to get meta data: %s", err)
        outcome.errors.append(f"failure to get meta data from {provider.name}: {err}")
        return
    LOG.debug("get-config: success")
    LOG.debug("meta data received")
    outcome.instance = instance
    pipe.on_metadata(instance)
    pipe.cancel.check()
    if pipe.with_identity:
        _fetch_identity(provider, instance, outcome)
    allow_new = settings.allow_new_conn
    if allow_new is None:
        allow_new = provider.key in ("oci", "openstack")
    configure_all(backend, instance, devices, pipe.cancel, outcome, allow_new,
                  pipe.dry_run, time.monotonic() + pipe.apply_budget)
    if outcome.changed:
        LOG.info("some changes were applied for provider %s", provider.name)
    else:
        LOG.debug("no changes were applied for provider %s", provider.name)


def _fetch_identity(provider, instance: InstanceData, outcome: Outcome) -> None:
    """Who the instance is (``status`` only); a failure is reported, never fatal."""
    try:
        outcome.identity = provider.identity(instance)
    except CloudSetupError as err:
        if isinstance(err, Cancelled):
            raise
        LOG.warning("cannot fetch the instance's identity from %s: %s", provider.name, err)
        outcome.identity_error = str(err)


def configure_all(backend: Backend, instance: InstanceData, devices: Sequence[Device],
                  cancel: Cancellation, outcome: Outcome, allow_new: bool = False,
                  dry_run: bool = False, deadline: Optional[float] = None) -> None:
    single = plan.single_families(instance)
    # With a NIC's data missing, a family that looks single-address may not be:
    # such a family is left as it is on every NIC.
    families = set(FAMILIES) - (single if instance.failed else set())
    by_mac = {d.mac: d for d in devices}
    for number, iface in enumerate(instance.interfaces):
        if deadline is not None and time.monotonic() > deadline:
            left = len(instance.interfaces) - number
            outcome.errors.append(f"the apply time budget is used up; {left} NIC(s) left "
                                  "for the next run")
            break
        if iface.error is not None:
            LOG.debug("config device %s: skip because meta data not successfully fetched",
                      iface.mac)
            LOG.warning("config device %s: keeping its configuration: %s", iface.mac,
                        iface.error)
            outcome.errors.append(f"{iface.mac}: {iface.error}")
            continue
        if not families:
            LOG.warning("config device %s: not changed: other NICs' data is missing, so it is "
                        "unknown whether this instance has several addresses", iface.mac)
            continue
        if iface.index >= plan.MAX_INTERFACES:
            LOG.debug("config device %s: skip because number of supported interfaces reached",
                      iface.mac)
            continue
        with cancel.critical():
            device = by_mac.get(iface.mac)
            if iface.vlan_tag:
                device = new_profiles.oci_vlan_device(backend, iface, by_mac,
                                                      allow_new and not dry_run,
                                                      outcome.errors, outcome.changed)
            elif iface.link is not None:  # an OpenStack VLAN or bond: found by name
                device = new_profiles.virtual_device(
                    backend, iface, by_mac, allow_new and not dry_run,
                    new_profiles.made_config(iface, single, families), outcome.errors,
                    outcome.changed)
            if device is None:
                LOG.debug("config device %s: skip because device not found", iface.mac)
                continue
            report = DeviceReport(device.ifname, iface.mac, iface)
            outcome.devices.append(report)
            changed, error = configure_device(backend, device, iface, single, report, dry_run,
                                              deadline, families, allow_new)
        if changed:
            outcome.changed.append(device.ifname)
        if error:
            outcome.errors.append(f"{device.ifname} ({iface.mac}): {error}")
    for mac in instance.unmatched:
        LOG.debug("config device %s: skip because device not found", mac)
    if allow_new and not dry_run:
        new_profiles.remove_stale(backend, instance, outcome.changed)
    listed = {iface.mac for iface in instance.interfaces}
    for device in devices:
        if device.mac not in listed:  # a local NIC the metadata does not list
            LOG.debug("config device %s: skip because meta data not successfully fetched",
                      device.mac)


def configure_device(backend: Backend, device: Device, iface: InterfaceData,
                     single: Union[bool, AbstractSet[int]],
                     report: Optional[DeviceReport] = None, dry_run: bool = False,
                     deadline: Optional[float] = None,
                     families: AbstractSet[int] = frozenset(FAMILIES),
                     allow_new: bool = False) -> Tuple[bool, Optional[str]]:
    """Bring one device to its planned state; (changed, error).

    ``single``: True, or the families for which the instance is single-address;
    ``families``: those to plan (the others stay as they are applied).  ``report``
    receives what was found and planned; with ``dry_run`` nothing is applied.
    ``allow_new``: a NIC of static networks without a profile gets one (``new_profiles``).
    """
    report = report or DeviceReport(device.ifname, iface.mac, iface)
    mac = iface.mac
    LOG.debug('config device %s: configuring "%s" (%s)...', mac, device.ifname, device.handle)
    for attempt in range(MAX_REAPPLY_TRIES):
        try:
            current = backend.current(device)
        except NoAppliedConnectionError as err:
            if new_profiles.wanted_for(iface, allow_new):
                return _make_nic(backend, device, iface, single, families, report, dry_run)
            LOG.debug("config device %s: device has no applied connection (%s). Skip", mac, err)
            report.skipped = f"no applied connection ({err})"
            return False, None
        except BackendError as err:
            return False, f"cannot read the device: {err}"
        if current.skip:
            LOG.debug("config device %s: %s", mac, current.skip)
            report.skipped = current.skip
            return False, None
        if not current.ours and new_profiles.takes_over(backend, device, iface, allow_new):
            return _make_nic(backend, device, iface, single, families, report, dry_run)
        planned = _planned_families(mac, iface, current, families, log=attempt == 0)
        own = plan.static_base(iface) if current.ours else current.own
        wanted = plan.desired(iface, own, single, planned, current.applied, current.ours)
        report.applied, report.wanted = current.applied, wanted
        report.in_sync = in_sync = backend.in_sync(current, wanted)
        if dry_run and not in_sync:  # only a dry run or status shows them
            report.commands = backend.describe(device, current, wanted)
        if in_sync:
            reason = " because there are not multiple IP addresses" if 4 in _set(single) \
                else ""
            LOG.debug("config device %s: device needs no update to applied connection %s%s. "
                      "Skip", mac, current.label, reason)
            return False, None
        if dry_run:
            LOG.debug("config device %s: would reapply connection %s (dry run)", mac,
                      current.label)
            return False, None
        LOG.debug("config device %s: reapply connection %s", mac, current.label)
        try:
            backend.apply(device, current, wanted)
        except VersionMismatchError:
            if deadline is not None and time.monotonic() > deadline:
                return False, "the applied connection changed meanwhile and the apply time " \
                    "budget is used up; left for the next run"
            LOG.debug("config device %s: applied connection changed in the meantime. Retry...",
                      mac)
            continue
        except BackendError as err:
            LOG.debug("config device %s: failure to reapply connection %s: %s", mac,
                      current.label, err)
            return False, f"failure to reapply connection {current.label}: {err}"
        LOG.debug("config device %s: connection %s reapplied", mac, current.label)
        return True, None
    return False, (f"the applied connection changed {MAX_REAPPLY_TRIES} times while it was "
                   "being updated; giving up until the next run")


def _make_nic(backend: Backend, device: Device, iface: InterfaceData, single, families,
              report: DeviceReport, dry_run: bool) -> Tuple[bool, Optional[str]]:
    report.wanted = new_profiles.made_config(iface, single, families)
    changed, error, report.commands = new_profiles.make_nic(backend, device, iface,
                                                            report.wanted, dry_run)
    report.in_sync = False
    return changed, error


def _set(single: Union[bool, AbstractSet[int]]) -> AbstractSet[int]:
    if isinstance(single, bool):
        return set(FAMILIES) if single else set()
    return single


def _planned_families(mac: str, iface: InterfaceData, current: Current,
                      families: AbstractSet[int], log: bool) -> AbstractSet[int]:
    """``families`` without those the device's configuration leaves off; the first time,
    a debug line for each such family the cloud has data for."""
    planned = set(families)
    for family, reason in current.families_off:
        planned.discard(family)
        has_data = iface.addresses_of(family) or any(
            (":" in cidr) == (family == 6) for cidr in iface.local_routes)
        if log and has_data:
            LOG.debug("config device %s: IPv%d left as it is: %s", mac, family, reason)
    return planned


def detect(pipe: Pipeline, outcome: Optional[Outcome] = None):
    """Probe the enabled providers at once; choose one deterministically (``choice.py``)."""
    identity = dmi.read(pipe.settings.dmi_dir)
    if outcome is not None:
        outcome.dmi = identity
    enabled = []
    for key in PROVIDER_KEYS:
        LOG.debug("start detecting %s provider...", DETECT_NAMES[key])
        if key not in pipe.settings.enabled:
            LOG.info("provider %s not detected: provider is disabled", DETECT_NAMES[key])
            continue
        enabled.append(key)
    if not enabled:
        return None
    order = choice.order_for(enabled, identity.cloud)
    if len(order) > 1:
        LOG.debug("provider choice: DMI %s; order %s", identity.describe(), ", ".join(order))

    def make(key: str):
        provider = pipe.make_provider(key)
        host = pipe.settings.hosts.get(key)
        if host is not None:
            LOG.debug('test: mock NM_CLOUD_SETUP_%s_HOST="%s" (default "%s")', key.upper(), host,
                      getattr(provider, "default_host", ""))
        return provider

    chosen = choice.choose(make, order,
                           identity.cloud if identity.cloud in enabled else None,
                           pipe.choice_grace)
    if chosen is None:
        return None
    key, provider = chosen
    if len(order) > 1:
        LOG.info("provider %s chosen (%s)", provider.name,
                 "named by DMI" if key == identity.cloud else "first detected in the order "
                 + ", ".join(order))
    return provider
