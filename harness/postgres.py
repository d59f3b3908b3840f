"""A throwaway PostgreSQL cluster (Debian's ``postgresql`` package) in a temporary directory.

``initdb`` and ``pg_ctl`` of the newest installed version make and start a cluster
of its own: its data and its socket in the temporary directory, no TCP listener
(``listen_addresses = ''``), never the machine's default cluster.  The services of
the tests reach it through the socket's path, which works from any network
namespace.  As root, the cluster runs as the ``postgres`` user (PostgreSQL refuses
root); ``stop``, ``start`` and ``restart`` are what a failing server does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional

BIN_GLOB = "/usr/lib/postgresql/*/bin"


def bin_dir() -> Optional[Path]:
    """The newest installed PostgreSQL's programs, or None."""
    found = sorted(Path("/").glob(BIN_GLOB.lstrip("/")),
                   key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    found = [p for p in found if (p / "initdb").exists() and (p / "pg_ctl").exists()]
    return found[-1] if found else None


class Postgres:
    def __init__(self) -> None:
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="ncs-pg-"))
        self.data = self.dir / "data"
        self.user: Optional[str] = "postgres" if os.geteuid() == 0 else None

    def __enter__(self) -> "Postgres":
        try:
            self.init()
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command: List[str] = [str(self.bin / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=check)

    def init(self) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.dir.chmod(0o711)  # the socket's directory: services running as root reach it
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")

    def start(self) -> None:
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.dir}' "
                   "-c fsync=off -c max_connections=50")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql:///{dbname}?host={self.dir}&user=postgres"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        result = self._run("psql", "-h", str(self.dir), "-U", "postgres", "-d", dbname,
                           "-At", "-c", sql)
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def cleanup(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
