"""Human and JSON renderings of a run, for ``--dry-run`` and ``status``.  Pure."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, List, Optional

from nm_cloud_setup.model import Identity, InterfaceData, IpConfig
from nm_cloud_setup.pipeline.outcome import DeviceReport, Outcome

IDENTITY_FIELDS = (("instance_id", "id"), ("instance_type", "type"), ("region", "region"),
                   ("zone", "zone"), ("hostname", "hostname"))


def as_dict(outcome: Outcome, dry_run: bool = False,
            last_run: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    result = {
        "provider": outcome.provider,
        "backend": outcome.backend,
        "dry_run": dry_run,
        "ok": outcome.ok,
        "errors": list(outcome.errors),
        "devices": [_device(d, outcome.identity) for d in outcome.devices],
        "foreign_rules": list(outcome.foreign_rules),
        "last_run": last_run,
    }
    if not dry_run:
        result["dmi"] = None if outcome.dmi is None else {**outcome.dmi.as_dict(),
                                                          "cloud": outcome.dmi.cloud}
        identity = outcome.identity
        result["identity"] = None if identity is None else {
            **{name: getattr(identity, name) for name, _ in IDENTITY_FIELDS},
            "public_ipv4": list(identity.public_ipv4)}
        result["identity_error"] = outcome.identity_error
    return result


def _device(report: DeviceReport, identity: Optional[Identity]) -> Dict[str, Any]:
    public = identity.nic(report.mac) if identity is not None else None
    result = {
        "interface": report.ifname,
        "mac": report.mac,
        "index": None if report.metadata is None else report.metadata.index,
        "metadata": None if report.metadata is None else dataclasses.asdict(report.metadata),
        "applied": _config(report.applied),
        "wanted": _config(report.wanted),
        "skipped": report.skipped,
        "in_sync": report.in_sync,
        "commands": list(report.commands),
        "foreign": list(report.foreign),
    }
    if identity is not None:
        result["public"] = {"ipv4": list(public.public_ipv4) if public else [],
                            "ipv6": list(public.public_ipv6) if public else []}
    return result


def _config(config: Optional[IpConfig]) -> Optional[Dict[str, Any]]:
    """IPv4's entries at the top (as before IPv6 came), IPv6's under ``ipv6``."""
    if config is None:
        return None
    return {**_entries(config.family(4)), "mtu": config.mtu, "dns": list(config.dns),
            "ipv6": _entries(config.family(6))}


def _entries(config: IpConfig) -> Dict[str, Any]:
    return {"addresses": [str(a) for a in config.addresses],
            "routes": sorted(str(r) for r in config.routes),
            "rules": sorted(str(r) for r in config.rules)}


def dry_run_text(outcome: Outcome) -> str:
    lines = [_header(outcome) + " (dry run: nothing is changed)"]
    for report in outcome.devices:
        lines.append(f"{report.ifname} ({report.mac}): {_state(report)}")
        lines += [f"  {command}" for command in report.commands]
        lines += [f"  left in place (another program's): {item}" for item in report.foreign]
    lines += _foreign_rule_lines(outcome)
    lines += [f"error: {error}" for error in outcome.errors]
    return "\n".join(lines)


def _foreign_rule_lines(outcome: Outcome) -> List[str]:
    return [f"left in place (another program's): {item}" for item in outcome.foreign_rules]


def status_text(outcome: Outcome, last_run: Optional[Dict[str, Any]],
                now: Optional[float] = None) -> str:
    lines = [_header(outcome)]
    if outcome.provider is not None:
        lines += _identity_lines(outcome)
    lines.append(f"last run: {_last_run(last_run, now)}")
    for report in outcome.devices:
        if report.metadata is None:  # left alone before the metadata was asked
            lines.append(f"{report.ifname} ({report.mac}): {_state(report)}")
            continue
        card = f"network card {report.metadata.card}, " if report.metadata.card else ""
        lines.append(f"{report.ifname} ({report.mac}), {card}table index "
                     f"{report.metadata.index}: {_state(report)}")
        lines.append(f"  metadata: {_metadata(report.metadata)}")
        public = outcome.identity.nic(report.mac) if outcome.identity is not None else None
        if public is not None and (public.public_ipv4 or public.public_ipv6):
            lines.append(f"  public:   {_clean(' '.join(public.public_ipv4 + public.public_ipv6))}")
        if report.applied is not None:
            applied = " ".join(str(a) for a in report.applied.addresses) or "(none)"
            lines.append(f"  applied:  {applied}")
        lines += [f"  to apply: {command}" for command in report.commands]
        lines += [f"  left in place (another program's): {item}" for item in report.foreign]
    lines += _foreign_rule_lines(outcome)
    lines += [f"error: {error}" for error in outcome.errors]
    return "\n".join(lines)


def _identity_lines(outcome: Outcome) -> List[str]:
    lines = []
    if outcome.dmi is not None:
        lines.append(f"dmi: {_clean(outcome.dmi.describe())}")
    identity = outcome.identity
    if identity is None:
        if outcome.identity_error:
            lines.append(f"instance: unknown ({_clean(outcome.identity_error)})")
        return lines
    parts = [f"{label} {_clean(getattr(identity, name))}" for name, label in IDENTITY_FIELDS
             if getattr(identity, name)]
    lines.append("instance: " + (", ".join(parts) or "(the metadata names nothing)"))
    if identity.public_ipv4:
        lines.append(f"public IPv4 (instance): {_clean(' '.join(identity.public_ipv4))}")
    return lines


def _clean(text: str) -> str:
    """Metadata text fit for a terminal: control characters shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _header(outcome: Outcome) -> str:
    if outcome.provider is None:
        return "provider: none detected (enable yours with NM_CLOUD_SETUP_<PROVIDER>=yes)"
    return f"provider: {outcome.provider}, backend: {outcome.backend or 'none'}"


def _state(report: DeviceReport) -> str:
    if report.skipped:
        return f"skipped: {report.skipped}"
    if report.metadata is not None and report.metadata.error:
        return f"metadata failed: {report.metadata.error}"
    if report.in_sync is None:
        return "not checked"
    return "in sync" if report.in_sync else "differs"


def _metadata(iface: InterfaceData) -> str:
    if iface.error:
        return f"failed: {iface.error}"
    parts: List[str] = []
    for family, addresses, subnet, gateway in (
            (4, iface.addresses, iface.subnet, iface.gateway),
            (6, iface.ipv6_addresses, iface.ipv6_subnet, iface.ipv6_gateway)):
        if addresses:
            parts.append(" ".join(addresses))
        if subnet:
            parts.append(f"in {subnet}")
        if gateway:
            parts.append(f"via {gateway}")
        for net in iface.extra_networks if family == 4 else ():
            parts.append(f"and {' '.join(net.addresses)} in {net.subnet}"
                         + (f" via {net.gateway}" if net.gateway else ""))
    if iface.local_routes:
        parts.append("local " + " ".join(iface.local_routes))
    if iface.dns:
        parts.append("dns " + " ".join(iface.dns))
    if iface.link is not None:
        parts.insert(0, f"{iface.link.kind} {iface.link.ifname}:")
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
