"""The short seeded soak that CI runs, on both backends (bench/soak.py runs long ones).

NCS_SOAK_STEPS and NCS_SOAK_SEED change its length and seed; a failure prints the
seed and step, and the command that replays it.
"""

from __future__ import annotations

import os

import pytest

from harness.soak.driver import soak
from tests.support.requirements import require_root

pytestmark = [pytest.mark.root, pytest.mark.soak]

STEPS = int(os.environ.get("NCS_SOAK_STEPS", "100"))
SEED = int(os.environ.get("NCS_SOAK_SEED", "1"))


@pytest.mark.parametrize("backend", ["nm", "netlink"])
def test_soak(backend, capsys):
    require_root(with_nm=backend == "nm")
    summary = soak(backend, SEED, STEPS)
    with capsys.disabled():
        print(f"\n{summary.line()}")
    assert summary.steps == STEPS and summary.runs >= STEPS
    assert not summary.violations, "\n".join(summary.violations)
