"""The service's command line (service/cli.py): a TCP API is refused without a token; a
PostgreSQL database without psycopg2 is one line."""

from __future__ import annotations

import subprocess
import sys


def test_the_command_refuses_a_tcp_api_without_a_token(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nm_cloud_setup.emulator", "serve",
                             "--db", str(tmp_path / "db"), "--listen", "127.0.0.1:0",
                             "--api", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "api-token-file" in result.stderr
    short = tmp_path / "token"
    short.write_text("short\n")
    short.chmod(0o600)
    result = subprocess.run([sys.executable, "-m", "nm_cloud_setup.service", "--db",
                             str(tmp_path / "db"), "--api", "127.0.0.1:0",
                             "--api-token-file", str(short)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "16 or more" in result.stderr


def test_postgresql_without_psycopg2_is_one_line(tmp_path):
    """psycopg2 is optional (the Debian package suggests python3-psycopg2): without it, a
    postgresql:// database stops the start with one line that names what to install."""
    hide = ("import sys; sys.modules['psycopg2'] = None; "
            "from nm_cloud_setup.service.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", hide, "--db", "postgresql:///metadata",
                             "--listen", "127.0.0.1:0", "--api", f"unix:{tmp_path}/api.sock"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "python3-psycopg2" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
