"""A sandbox's NetworkManager profiles on disk (what NetworkManager has applied is read
with busctl: harness/nm_applied.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict


def profiles_on_disk(sandbox) -> Dict[str, str]:
    keyfiles = Path(sandbox.workdir) / "nm" / "keyfiles"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in keyfiles.iterdir()}
