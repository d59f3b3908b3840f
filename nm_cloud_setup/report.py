"""Human and JSON renderings of a run, for ``--dry-run`` and ``status``.  Pure."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, List, Optional

from nm_cloud_setup.model import InterfaceData, Ipv4Config
from nm_cloud_setup.run import DeviceReport, Outcome


def as_dict(outcome: Outcome, dry_run: bool = False,
            last_run: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return {
        "provider": outcome.provider,
        "backend": outcome.backend,
        "dry_run": dry_run,
        "ok": outcome.ok,
        "errors": list(outcome.errors),
        "devices": [_device(d) for d in outcome.devices],
        "last_run": last_run,
    }


def _device(report: DeviceReport) -> Dict[str, Any]:
    return {
        "interface": report.ifname,
        "mac": report.mac,
        "index": report.metadata.index,
        "metadata": dataclasses.asdict(report.metadata),
        "applied": _config(report.applied),
        "wanted": _config(report.wanted),
        "skipped": report.skipped,
        "in_sync": report.in_sync,
        "commands": list(report.commands),
    }


def _config(config: Optional[Ipv4Config]) -> Optional[Dict[str, Any]]:
    if config is None:
        return None
    return {"addresses": [str(a) for a in config.addresses],
            "routes": sorted(str(r) for r in config.routes),
            "rules": sorted(str(r) for r in config.rules),
            "mtu": config.mtu}


def dry_run_text(outcome: Outcome) -> str:
    lines = [_header(outcome) + " (dry run: nothing is changed)"]
    for report in outcome.devices:
        lines.append(f"{report.ifname} ({report.mac}): {_state(report)}")
        lines += [f"  {command}" for command in report.commands]
    lines += [f"error: {error}" for error in outcome.errors]
    return "\n".join(lines)


def status_text(outcome: Outcome, last_run: Optional[Dict[str, Any]],
                now: Optional[float] = None) -> str:
    lines = [_header(outcome), f"last run: {_last_run(last_run, now)}"]
    for report in outcome.devices:
        lines.append(f"{report.ifname} ({report.mac}), table index {report.metadata.index}: "
                     f"{_state(report)}")
        lines.append(f"  metadata: {_metadata(report.metadata)}")
        if report.applied is not None:
            applied = " ".join(str(a) for a in report.applied.addresses) or "(none)"
            lines.append(f"  applied:  {applied}")
        lines += [f"  to apply: {command}" for command in report.commands]
    lines += [f"error: {error}" for error in outcome.errors]
    return "\n".join(lines)


def _header(outcome: Outcome) -> str:
    if outcome.provider is None:
        return "provider: none detected (enable yours with NM_CLOUD_SETUP_<PROVIDER>=yes)"
    return f"provider: {outcome.provider}, backend: {outcome.backend or 'none'}"


def _state(report: DeviceReport) -> str:
    if report.skipped:
        return f"skipped: {report.skipped}"
    if report.metadata.error:
        return f"metadata failed: {report.metadata.error}"
    if report.in_sync is None:
        return "not checked"
    return "in sync" if report.in_sync else "differs"


def _metadata(iface: InterfaceData) -> str:
    if iface.error:
        return f"failed: {iface.error}"
    parts: List[str] = []
    if iface.addresses:
        parts.append(" ".join(iface.addresses))
    if iface.subnet:
        parts.append(f"in {iface.subnet}")
    if iface.gateway:
        parts.append(f"via {iface.gateway}")
    if iface.local_routes:
        parts.append("local " + " ".join(iface.local_routes))
    return " ".join(parts) or "(nothing)"


def _last_run(record: Optional[Dict[str, Any]], now: Optional[float]) -> str:
    if not record:
        return "never (or its state in /run is gone)"
    when = record.get("time", 0)
    ago = (now if now is not None else time.time()) - when
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
    outcome = "ok" if record.get("ok") else f"failed: {'; '.join(record.get('errors', []))}"
    changed = record.get("changed") or []
    detail = f", changed {', '.join(changed)}" if changed else ", no changes"
    return f"{stamp} ({ago:.0f} s ago): {outcome}{detail}"
