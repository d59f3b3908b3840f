"""Upstream's own nm-cloud-setup (the C binary) as an oracle: find it, run it in a
sandbox, and normalise what a run leaves behind so that two runs can be compared.

The binary is found through ``NCS_UPSTREAM_BINARY``, else next to the repository
(``<repo>/../shared/reference/nm-cloud-setup-upstream``), else in
``/work/shared/reference/``.  Where none is there the tests that need it are
skipped, or fail with ``NCS_REQUIRE_ALL=1`` (CI: ``tests/support/requirements.py``).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from harness.kernel_view import local_routes, policy_routes, policy_rules
from harness.nm_applied import Applied, applied
from harness.sandbox import Sandbox

NAME = "nm-cloud-setup-upstream"
REPO = Path(__file__).resolve().parent.parent


def find_binary() -> Optional[Path]:
    configured = os.environ.get("NCS_UPSTREAM_BINARY")
    candidates = [Path(configured)] if configured else [
        REPO.parent / "shared" / "reference" / NAME, Path("/work/shared/reference") / NAME]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def map_interfaces(sandbox: Sandbox) -> str:
    """``NM_CLOUD_SETUP_MAP_INTERFACES`` for the sandbox's NICs: a veth has no permanent
    MAC, and upstream keys NICs by that alone."""
    return ";".join(f"{nic.ifname}={nic.mac}" for nic in sandbox.nics)


def run_upstream(sandbox: Sandbox, binary: Path, url: str, provider: str,
                 extra: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    key = provider.upper()
    env = sandbox.env(**{f"NM_CLOUD_SETUP_{key}": "yes", f"NM_CLOUD_SETUP_{key}_HOST": url,
                         "NM_CLOUD_SETUP_LOG": "TRACE",
                         "NM_CLOUD_SETUP_MAP_INTERFACES": map_interfaces(sandbox),
                         **(extra or {})})
    result = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=90)
    sandbox.settle()
    return result


Comparable = Tuple[Tuple[str, ...], FrozenSet, FrozenSet, FrozenSet, Optional[int]]


def comparable(applied: Applied) -> Comparable:
    """An applied connection's IPv4 where order carries no meaning: the primary address,
    then addresses, routes and rules as sets, and the MTU."""
    ipv4 = applied.ipv4
    return (ipv4.addresses[:1], frozenset(ipv4.addresses), frozenset(ipv4.routes),
            frozenset(ipv4.rules), applied.mtu)


def snapshot(sandbox: Sandbox, ifnames: Iterable[str] = ("eth1", "eth2")) -> Dict[str, object]:
    """What a run leaves: the NICs' addresses (primary first, the secondaries sorted),
    policy rules and tables, local routes, and NetworkManager's applied connections."""
    names = list(ifnames)
    return {
        "addresses": {name: sandbox.addresses(name) for name in names},
        "rules": policy_rules(sandbox),
        "routes": policy_routes(sandbox),
        "local": local_routes(sandbox),
        "applied": {name: comparable(config) for name, config in applied(sandbox).items()
                    if name in names},
    }


_KEY_LINES = re.compile(
    r"<(debug|info|warn)> +("
    r"provider \S+ (not )?detected|no provider detected|found interfaces|"
    r"test: +map |get-config: (start|skip|success|detected|empty)|meta data received|"
    r"found (azure|GCP) interfaces|(azure |GCP )?interface\[\d+\]|"
    r"config device \S+: (configuring|reapply|connection \S+ \(\S+\) reapplied|"
    r"device needs no update|skip|device has no)|"
    r"(some|no) changes were applied)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def key_lines(stdout: str) -> List[str]:
    """Upstream's key log lines of a run (detection, get-config, per device, result),
    without timestamps, profile UUIDs as ``UUID``."""
    result = []
    for line in stdout.splitlines():
        body = line.split("] ", 1)[-1]
        if _KEY_LINES.match(body):
            result.append(_UUID.sub("UUID", body))
    return result
