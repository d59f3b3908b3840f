"""What a test needs from the machine: root and the system packages, a tool on the PATH.

Where it is missing the test is skipped with the reason, except when
``NCS_REQUIRE_ALL=1`` (set by .ci/run and scripts/check): then it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.sandbox import missing_tools
from harness.upstream import NAME, find_binary

REQUIRE_ALL = os.environ.get("NCS_REQUIRE_ALL") == "1"


def _unavailable(with_nm: bool = True) -> str:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = missing_tools(with_nm)
    if missing:
        return f"needs {', '.join(missing)} (apt-get install network-manager dnsmasq-base)"
    return ""


def require_root(with_nm: bool = True) -> None:
    reason = _unavailable(with_nm)
    if reason:
        if REQUIRE_ALL:
            pytest.fail(f"NCS_REQUIRE_ALL=1 but this test {reason}")
        pytest.skip(reason)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if REQUIRE_ALL:
            pytest.fail(f"NCS_REQUIRE_ALL=1 but {tool} is not installed")
        pytest.skip(f"needs {tool}")
    return path


def require_binary() -> Path:
    """Upstream's own binary (``harness/upstream.py`` finds it)."""
    path = find_binary()
    if path is None:
        reason = (f"needs upstream's {NAME} (set NCS_UPSTREAM_BINARY, or put it in "
                  "../shared/reference/)")
        if REQUIRE_ALL:
            pytest.fail(f"NCS_REQUIRE_ALL=1 but this test {reason}")
        pytest.skip(reason)
    return path
