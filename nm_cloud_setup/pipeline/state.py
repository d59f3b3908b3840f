"""Run state under ``/run/nm-cloud-setup/``: one run at a time, and what the last one did.

- ``lock``: held (flock) for the whole run; a run that finds another in progress
  waits for it, at most ``LOCK_WAIT`` seconds, instead of racing it.
- ``metadata.json``: the last fetched metadata per interface (rewritten only when
  it changes).
- ``last-run.json``: the last run's time, provider, backend, outcome, changed
  devices and errors.
Files are written atomically (temporary file + rename) and never hold secrets:
tokens never reach the model.  A missing or read-only ``/run`` costs the state
files and the lock (a warning), never the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

from nm_cloud_setup.errors import CloudSetupError
from nm_cloud_setup.model import InstanceData

LOG = logging.getLogger(__name__)

LOCK_WAIT = 60.0
METADATA = "metadata.json"
LAST_RUN = "last-run.json"


class LockTimeout(CloudSetupError):
    """Another run held the lock for longer than we wait."""


@contextlib.contextmanager
def run_lock(state_dir: Path, wait: float = LOCK_WAIT,
             sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold the run lock; wait (bounded) for a run in progress to finish first."""
    try:
        state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        LOG.warning("cannot create the run lock in %s (%s): running without it", state_dir,
                    err.strerror)
        yield
        return
    try:
        deadline = time.monotonic() + wait
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not waited:
                LOG.info("another nm-cloud-setup run (pid %s) is in progress: waiting for it",
                         _holder(fd))
                waited = True
            if time.monotonic() >= deadline:
                raise LockTimeout(f"another nm-cloud-setup run (pid {_holder(fd)}) is still in "
                                  f"progress after {wait:g} s; try again later")
            sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"


def write_json(path: Path, value: Any) -> bool:
    """Write atomically; False (with a warning) when the state directory is unusable."""
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as err:
        LOG.warning("cannot write %s (%s)", path, err.strerror or err)
        return False
    return write_text(path, json.dumps(value, indent=1, sort_keys=True) + "\n")


def write_text(path: Path, text: str, what: str = "") -> bool:
    """Replace ``path`` atomically (a temporary file renamed over it); False, with a
    warning naming ``what`` (default: the path), when it cannot."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
        return True
    except OSError as err:
        LOG.warning("cannot write %s (%s)", what or path, err.strerror or err)
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def metadata_document(instance: InstanceData) -> Dict[str, Any]:
    return {"provider": instance.provider,
            "interfaces": [dataclasses.asdict(iface) for iface in instance.interfaces]}


def save_metadata(state_dir: Path, instance: InstanceData) -> None:
    """Rewrite ``metadata.json`` only when the metadata changed (a quiet no-change run)."""
    document = metadata_document(instance)
    if read_json(state_dir / METADATA) != json.loads(json.dumps(document)):
        write_json(state_dir / METADATA, document)


def save_last_run(state_dir: Path, record: Dict[str, Any]) -> None:
    write_json(state_dir / LAST_RUN, record)


def load_last_run(state_dir: Path) -> Optional[Dict[str, Any]]:
    return read_json(state_dir / LAST_RUN)
