"""Debian's cloud-init, run with Debian's python3: the real client the tests read with."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.requirements import REQUIRE_ALL

DEBIAN_PYTHON = "/usr/bin/python3"


def need_cloud_init() -> None:
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import cloudinit"], capture_output=True)
    if probe.returncode != 0:
        message = "needs Debian's cloud-init package (scripts/setup.sh installs it)"
        if REQUIRE_ALL:
            pytest.fail(message)
        pytest.skip(message)
