"""A run's figures for Prometheus' node_exporter (its textfile collector), and the
``status --check`` verdict.

``render`` is pure: the text exposition format (``# HELP``, ``# TYPE``, one sample a
line), which node_exporter reads from ``*.prom`` files in the directory given to its
``--collector.textfile.directory``.  ``write`` replaces ``FILE`` in that directory
atomically (a temporary file in the same directory, then a rename), so the collector
never reads half a file.  The metrics are listed in the man page and
docs/operating.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from nm_cloud_setup.model import FAMILIES
from nm_cloud_setup.pipeline import state
from nm_cloud_setup.pipeline.outcome import DeviceReport, Outcome

LOG = logging.getLogger(__name__)

FILE = "nm-cloud-setup.prom"
PREFIX = "nm_cloud_setup_"
IN_SYNC, DRIFT, UNKNOWN = 0, 1, 2  # ``status --check``'s exit status
_FAMILY_NAMES = {4: "ipv4", 6: "ipv6"}


@dataclass(frozen=True)
class RunFigures:
    """What the command line measured around a run."""

    started: float  # Unix time
    duration: float  # seconds
    requests: int  # HTTP requests to the metadata service
    version: str


def nic_in_sync(report: DeviceReport, outcome: Outcome) -> Optional[bool]:
    """Whether the NIC holds what the metadata says once the run is over; None when it
    was left alone (skipped, excluded) and there is nothing to tell."""
    if report.skipped:
        return None
    if report.metadata is None or report.metadata.error or report.error:
        return False
    if report.in_sync:
        return True
    return report.ifname in outcome.changed


def check(outcome: Outcome) -> Tuple[int, str]:
    """``status --check``: (exit status, one line).  0 every NIC in sync, 1 some NIC's
    applied state differs from what the metadata says, 2 it could not be told (no
    provider, no backend, metadata or a device that could not be read)."""
    if outcome.provider is None:
        return UNKNOWN, "cannot tell: no provider detected"
    differ = [r.ifname for r in outcome.devices if not r.skipped and r.in_sync is False]
    if differ:
        return DRIFT, f"differs: {', '.join(differ)}"
    if outcome.errors:
        return UNKNOWN, f"cannot tell: {outcome.errors[0]}"
    unknown = [r.ifname or r.mac for r in outcome.devices
               if not r.skipped and r.in_sync is None]
    if unknown:
        return UNKNOWN, f"cannot tell: {', '.join(unknown)} not checked"
    return IN_SYNC, "in sync"


def render(outcome: Optional[Outcome], figures: RunFigures) -> str:
    """The exposition text of one run (``outcome`` None: the run did not start)."""
    ok = outcome is not None and outcome.ok
    lines: List[str] = []
    _gauge(lines, "last_run_timestamp_seconds", "When the last run started (Unix time).",
           [((), round(figures.started, 3))])
    _gauge(lines, "last_run_success", "1 when the last run did all it had to, else 0.",
           [((), int(ok))])
    _gauge(lines, "last_run_duration_seconds", "How long the last run took.",
           [((), round(figures.duration, 3))])
    _gauge(lines, "last_run_metadata_requests",
           "HTTP requests the last run sent to the metadata service.",
           [((), figures.requests)])
    _gauge(lines, "last_run_errors", "Errors the last run reported.",
           [((), len(outcome.errors) if outcome is not None else 1)])
    _gauge(lines, "last_run_changed_nics", "NICs the last run changed.",
           [((), len(outcome.changed) if outcome is not None else 0)])
    _gauge(lines, "info", "The version, and the provider and backend of the last run.",
           [((("version", figures.version),
              ("provider", (outcome.provider if outcome else None) or ""),
              ("backend", (outcome.backend if outcome else None) or "")), 1)])
    if outcome is not None:
        _nic_metrics(lines, outcome)
    return "\n".join(lines) + "\n"


def _nic_metrics(lines: List[str], outcome: Outcome) -> None:
    reports = [r for r in outcome.devices if r.metadata is not None]
    labelled = [(r, (("interface", r.ifname), ("mac", r.mac))) for r in reports]
    _gauge(lines, "nic_in_sync",
           "1 when the NIC holds what the metadata says after the last run, else 0 "
           "(NICs left alone are not listed).",
           [(labels, int(state)) for r, labels in labelled
            for state in [nic_in_sync(r, outcome)] if state is not None])
    _gauge(lines, "nic_changed", "1 when the last run changed the NIC (drift repaired).",
           [(labels, int(r.ifname in outcome.changed)) for r, labels in labelled
            if not r.skipped])
    _gauge(lines, "nic_skipped", "1 when the last run left the NIC alone.",
           [(labels, int(bool(r.skipped))) for r, labels in labelled])
    for name, what in (("addresses", "addresses"), ("rules", "routing rules")):
        _gauge(lines, f"nic_{name}",
               f"The {what} the NIC holds after the last run, per family.",
               [(labels + (("family", _FAMILY_NAMES[family]),), count)
                for r, labels in labelled if not r.skipped
                for family, count in _counts(r, outcome, name)])


def _counts(report: DeviceReport, outcome: Outcome, kind: str) -> Iterable[Tuple[int, int]]:
    config = report.wanted if nic_in_sync(report, outcome) else report.applied
    if config is None:
        return ()
    return [(family, len(getattr(config.family(family), kind))) for family in FAMILIES]


Sample = Tuple[Tuple[Tuple[str, str], ...], float]


def _gauge(lines: List[str], name: str, text: str, samples: List[Sample]) -> None:
    if not samples:
        return
    lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} gauge"]
    for labels, value in samples:
        inner = ",".join(f'{key}="{_escape(str(val))}"' for key, val in labels)
        lines.append(f"{PREFIX}{name}{{{inner}}} {value}" if labels
                     else f"{PREFIX}{name} {value}")


def _escape(value: str) -> str:
    """A label value as the text format writes it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def write(directory: Path, text: str) -> bool:
    """Replace ``directory/FILE`` atomically; False (with a warning) when it cannot."""
    path = directory / FILE
    return state.write_text(path, text, f"the metrics file {path}")
