"""A real NetworkManager for a sandbox: the machine's own, or another version in a chroot.

The daemon runs in the sandbox's host namespace, in a private mount namespace
(its own ``/run/NetworkManager``, kept across restarts as on a real machine, a
read-only ``/sys`` so that it does not wait
for udev, its state directory in the sandbox).  With ``root`` (a debootstrap
tree, e.g. Debian 13's NetworkManager 1.52 built by ``scripts/setup.sh``), it
runs from that tree instead: tmpfs on ``ROOT/run`` and ``ROOT/tmp``, the
sandbox's scratch directory bound in at the same path (configs, keyfiles, the
bus socket), ``/proc``, ``/dev`` and the read-only ``/sys`` bound in.  The host's
``nmcli`` talks to either.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Optional

# Debian 13's NetworkManager (1.52), built by scripts/setup.sh when missing.
TRIXIE_ROOT = Path("/var/cache/nm-cloud-setup-tests/trixie")

_NM_CONFIG = """[main]
plugins=keyfile
no-auto-default=*
dns=none
rc-manager=unmanaged
hostname-mode=none
auth-polkit=false

[keyfile]
path={keyfile_dir}
unmanaged-devices=interface-name:peer*

[connectivity]
enabled=false

[logging]
level={log_level}
"""


def version(root: Optional[Path] = None) -> str:
    """The version of the machine's NetworkManager, or of the one in ``root``."""
    args = ["/usr/sbin/NetworkManager", "--version"]
    if root is not None:
        args = ["chroot", str(root)] + args
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def script(workdir: Path, log_level: str, root: Optional[Path] = None) -> str:
    """The shell script that starts NetworkManager (run it in the namespace with ``unshare -m``).

    Writes the daemon's configuration under ``workdir/nm``.
    """
    nm_dir = workdir / "nm"
    for sub in ("conf.d", "system-conf.d", "keyfiles", "lib", "run"):
        (nm_dir / sub).mkdir(parents=True, exist_ok=True)
    config = nm_dir / "NetworkManager.conf"
    config.write_text(_NM_CONFIG.format(keyfile_dir=nm_dir / "keyfiles", log_level=log_level))
    daemon = (f"NetworkManager --debug --config={config} --config-dir={nm_dir / 'conf.d'} "
              f"--system-config-dir={nm_dir / 'system-conf.d'} "
              f"--intern-config={nm_dir / 'intern.conf'} --state-file={nm_dir / 'state'} "
              f"--pid-file={nm_dir / 'nm.pid'}")
    if root is None:
        # Its /run directory outlives a restart, as on a real machine: a restarted daemon
        # takes its devices over again instead of calling them external.
        return ("mkdir -p /run/NetworkManager && "
                f"mount --bind {nm_dir / 'run'} /run/NetworkManager && "
                "mount -o remount,bind,ro /sys && "
                f"mount --bind {nm_dir / 'lib'} /var/lib/NetworkManager && exec {daemon}")
    r = shlex.quote(str(root))
    return " && ".join([
        f"mount -t tmpfs tmpfs {r}/run", f"mkdir -p {r}/run/NetworkManager",
        f"mount --bind {nm_dir / 'run'} {r}/run/NetworkManager",
        f"mount -t tmpfs tmpfs {r}/tmp",
        f"mkdir -p {r}{workdir}", f"mount --bind {workdir} {r}{workdir}",
        f"mount --rbind /proc {r}/proc", f"mount --rbind /dev {r}/dev",
        f"mount --bind /sys {r}/sys", f"mount -o remount,bind,ro {r}/sys",
        f"mkdir -p {r}/var/lib/NetworkManager",
        f"mount --bind {nm_dir / 'lib'} {r}/var/lib/NetworkManager",
        f"exec chroot {r} /usr/sbin/{daemon}",
    ])
