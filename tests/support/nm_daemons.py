"""The two NetworkManager daemons the tests run against.

The machine's own (Debian 12: 1.42) and Debian 13's 1.52 from the debootstrap
tree that ``scripts/setup.sh`` builds.  A module runs on both with
``pytestmark = BOTH_DAEMONS``; otherwise on the machine's own.
"""

from __future__ import annotations

import pytest

from harness import nm_daemon

# Test id -> the root of the NetworkManager to run (None: the machine's own).
NM_DAEMONS = {"nm-host": None, "nm-debian13": nm_daemon.TRIXIE_ROOT}
BOTH_DAEMONS = pytest.mark.parametrize("nm_daemon_id", list(NM_DAEMONS), indirect=True,
                                       scope="session")
