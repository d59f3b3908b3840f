"""Running ``nm-cloud-setup`` against a sandbox VM: inside its namespace (the netlink
backend, no NetworkManager there), or beside it against its NetworkManager.

The command is the checkout's (``python -m nm_cloud_setup``), unless
``NCS_TOOL_COMMAND`` names another, as a command line split as the shell splits it:
``scripts/package check`` runs these tests against the installed package with
``NCS_TOOL_COMMAND="scripts/package in-root ROOT /usr/bin/nm-cloud-setup"``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Dict, List, Sequence

from harness.sandbox import Sandbox


def tool_command() -> List[str]:
    """The nm-cloud-setup command line the tests run (see the module's docstring)."""
    command = os.environ.get("NCS_TOOL_COMMAND", "").strip()
    return shlex.split(command) if command else [sys.executable, "-m", "nm_cloud_setup"]


def run_in_vm(sandbox: Sandbox, url: str, extra: Dict[str, str] = None,
              provider: str = "ec2", args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run ``nm-cloud-setup`` inside the sandbox VM's namespace (no NetworkManager there)."""
    key = provider.upper()
    settings = {f"NM_CLOUD_SETUP_{key}": "yes", f"NM_CLOUD_SETUP_{key}_HOST": url,
                "NM_CLOUD_SETUP_LOG": "TRACE",
                "NM_CLOUD_SETUP_STATE_DIR": str(sandbox.workdir / "state")}
    env = sandbox.env(**{**settings, **(extra or {})})
    return subprocess.run(sandbox.exec_in_host(*tool_command(), *args), env=env,
                          capture_output=True, text=True, timeout=60)


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
    result = subprocess.run([*tool_command(), *args], env=env,
                            capture_output=True, text=True, timeout=timeout)
    sandbox.settle()  # NetworkManager commits a Reapply to the kernel an instant later
    return result
