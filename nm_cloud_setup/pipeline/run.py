"""The pipeline: detect -> list devices -> get config -> plan -> apply (``apply.py``).

Log lines keep upstream nm-cloud-setup's wording (docs/upstream-differences.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from nm_cloud_setup import __version__
from nm_cloud_setup.backends.base import Backend
from nm_cloud_setup.config import Settings
from nm_cloud_setup.errors import BackendError, Cancelled, CloudSetupError, NotRunningError
from nm_cloud_setup.model import InstanceData
from nm_cloud_setup.pipeline import choice, dmi
from nm_cloud_setup.pipeline.apply import configure_all
from nm_cloud_setup.pipeline.cancel import Cancellation
from nm_cloud_setup.pipeline.outcome import DeviceReport, Outcome
from nm_cloud_setup.planning import mtu
from nm_cloud_setup.providers import registry

LOG = logging.getLogger(__name__)


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
    provider = pipe.cancel.interruptible(lambda: detect(pipe, outcome))
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
        pipe.cancel.check(changed=False)
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
    wanted = {}
    for device in devices:  # NICs another program owns: nothing of theirs is even asked for
        reason = settings.exclude.of_device(device.mac, device.ifname)
        if reason is None:
            wanted[device.mac] = device.ifname
            continue
        LOG.info("config device %s: left alone: %s", device.mac, reason)
        outcome.devices.append(DeviceReport(device.ifname, device.mac, None,
                                            skipped=f"left alone: {reason}"))
    LOG.debug("get-config: starting")
    try:
        instance = pipe.cancel.interruptible(lambda: provider.get_config(wanted))
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
    instance = mtu.limited(instance, settings.mtu, settings.mtu_max)
    outcome.instance = instance
    pipe.on_metadata(instance)
    pipe.cancel.check(changed=False)
    if pipe.with_identity:
        pipe.cancel.interruptible(lambda: _fetch_identity(provider, instance, outcome))
    allow_new = settings.allow_new_conn
    if allow_new is None:
        allow_new = provider.key in ("oci", "openstack")
    configure_all(backend, instance, devices, pipe.cancel, outcome, allow_new,
                  pipe.dry_run, time.monotonic() + pipe.apply_budget, settings.tables,
                  settings.exclude)
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


def detect(pipe: Pipeline, outcome: Optional[Outcome] = None):
    """Probe the enabled providers at once; choose one deterministically (``choice.py``)."""
    identity = dmi.read(pipe.settings.dmi_dir)
    if outcome is not None:
        outcome.dmi = identity
    enabled = []
    for cloud in registry.CLOUDS:
        key = cloud.key
        LOG.debug("start detecting %s provider...", cloud.log_name)
        if key not in pipe.settings.enabled:
            LOG.info("provider %s not detected: provider is disabled", cloud.log_name)
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
