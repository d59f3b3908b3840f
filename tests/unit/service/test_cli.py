"""The service's command line (service/cli.py): a TCP API is refused without a token."""

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
