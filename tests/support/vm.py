"""Running ``nm-cloud-setup`` against a sandbox VM: inside its namespace (the netlink
backend, no NetworkManager there), or beside it against its NetworkManager."""

from __future__ import annotations

import subprocess
import sys
from typing import Dict, Sequence

from harness.sandbox import Sandbox


def run_in_vm(sandbox: Sandbox, url: str, extra: Dict[str, str] = None,
              provider: str = "ec2", args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run ``nm-cloud-setup`` inside the sandbox VM's namespace (no NetworkManager there)."""
    key = provider.upper()
    settings = {f"NM_CLOUD_SETUP_{key}": "yes", f"NM_CLOUD_SETUP_{key}_HOST": url,
                "NM_CLOUD_SETUP_LOG": "TRACE",
                "NM_CLOUD_SETUP_STATE_DIR": str(sandbox.workdir / "state")}
    env = sandbox.env(**{**settings, **(extra or {})})
    return subprocess.run(sandbox.exec_in_host(sys.executable, "-m", "nm_cloud_setup", *args),
                          env=env, capture_output=True, text=True, timeout=60)


def run_tool(sandbox: Sandbox, url: str, extra: Dict[str, str] = None,
             timeout: float = 60, provider: str = "ec2",
             args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run ``nm-cloud-setup`` for ``provider`` against ``url`` and the sandbox's NetworkManager."""
    key = provider.upper()
    # This runs in the machine's own namespace: never let it fall back to netlink here.
    settings = {f"NM_CLOUD_SETUP_{key}": "yes", f"NM_CLOUD_SETUP_{key}_HOST": url,
                "NM_CLOUD_SETUP_LOG": "TRACE", "NM_CLOUD_SETUP_BACKEND": "nm",
                "NM_CLOUD_SETUP_STATE_DIR": str(sandbox.workdir / "state"),
                # the test machine's own DMI (a cloud VM's) must not order the choice
                "NM_CLOUD_SETUP_DMI_DIR": str(sandbox.workdir / "no-dmi")}
    env = sandbox.env(**{**settings, **(extra or {})})
    result = subprocess.run([sys.executable, "-m", "nm_cloud_setup", *args], env=env,
                            capture_output=True, text=True, timeout=timeout)
    sandbox.settle()  # NetworkManager commits a Reapply to the kernel an instant later
    return result
