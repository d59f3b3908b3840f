"""What ships besides the package: units, dispatcher script, man page, make install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_ALL

ROOT = Path(__file__).resolve().parent.parent


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if REQUIRE_ALL:
            pytest.fail(f"NCS_REQUIRE_ALL=1 but {tool} is not installed")
        pytest.skip(f"needs {tool}")
    return path


def render_service(tmp_path: Path, bindir: str) -> Path:
    text = (ROOT / "systemd" / "nm-cloud-setup.service.in").read_text()
    unit = tmp_path / "nm-cloud-setup.service"
    unit.write_text(text.replace("@bindir@", bindir))
    shutil.copy(ROOT / "systemd" / "nm-cloud-setup.timer", tmp_path)
    return unit


def test_units_verify(tmp_path):
    need("systemd-analyze")
    unit = render_service(tmp_path, str(Path(sys.executable).parent))
    assert (Path(sys.executable).parent / "nm-cloud-setup").exists()
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit),
                             str(tmp_path / "nm-cloud-setup.timer")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_metadata_service_unit_verifies_and_keeps_only_port_80(tmp_path):
    need("systemd-analyze")
    text = (ROOT / "systemd" / "nm-cloud-metadata.service.in").read_text()
    unit = tmp_path / "nm-cloud-metadata.service"
    unit.write_text(text.replace("@bindir@", str(Path(sys.executable).parent)))
    assert (Path(sys.executable).parent / "nm-cloud-metadata-service").exists()
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = text.splitlines()
    for line in ("CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "DynamicUser=yes",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=nm-cloud-metadata",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"):
        assert line in lines, line
    assert [x for x in lines if x.startswith("CapabilityBoundingSet=")] == [
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"]
    assert "--api unix:/run/nm-cloud-metadata/api.sock" in text  # the API: a unix socket


def test_service_keeps_upstream_ordering_and_start_limits():
    text = (ROOT / "systemd" / "nm-cloud-setup.service.in").read_text()
    for line in ("Type=oneshot", "Before=network-online.target", "After=NetworkManager.service",
                 "WantedBy=NetworkManager.service", "StartLimitIntervalSec=1",
                 "StartLimitBurst=100", "CapabilityBoundingSet=CAP_NET_ADMIN",
                 "ProtectSystem=strict", "RuntimeDirectory=nm-cloud-setup"):
        assert line in text.splitlines()
    assert "PrivateUsers=yes" not in text  # the netlink backend needs real CAP_NET_ADMIN


DISPATCHER = ROOT / "dispatcher.d" / "90-nm-cloud-setup.sh"


def test_dispatcher_script_is_clean_sh():
    assert subprocess.run(["sh", "-n", str(DISPATCHER)]).returncode == 0
    need("shellcheck")
    result = subprocess.run(["shellcheck", "-s", "sh", str(DISPATCHER)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("action, enabled, expected", [
    ("pre-up", True, "restart nm-cloud-setup.service"),
    ("dhcp4-change", True, "--no-block restart nm-cloud-setup.service"),
    ("up", True, None),
    ("pre-up", False, None),
    ("dhcp4-change", False, None),
])
def test_dispatcher_actions(tmp_path, action, enabled, expected):
    """The script with a stand-in systemctl that records what it is asked."""
    log = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n'
                    f'case "$*" in *is-enabled*) exit {0 if enabled else 1};; esac\nexit 0\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run(["sh", str(DISPATCHER), "eth1", action], env=env)
    assert result.returncode == 0
    calls = log.read_text().splitlines() if log.exists() else []
    restarts = [c for c in calls if "restart" in c]
    assert restarts == ([expected] if expected else [])


def test_man_page_lints_clean():
    need("mandoc")
    page = ROOT / "man" / "nm-cloud-setup.8"
    result = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", str(page)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    need("groff")
    rendered = subprocess.run(["groff", "-man", "-ww", "-z", str(page)], capture_output=True,
                              text=True)
    assert rendered.returncode == 0 and rendered.stderr == "", rendered.stderr


def test_man_page_names_every_variable():
    page = (ROOT / "man" / "nm-cloud-setup.8").read_text().replace("\\", "")
    for name in ("NM_CLOUD_SETUP_EC2", "NM_CLOUD_SETUP_AZURE", "NM_CLOUD_SETUP_GCP",
                 "NM_CLOUD_SETUP_ALIYUN", "NM_CLOUD_SETUP_OCI", "NM_CLOUD_SETUP_OPENSTACK",
                 "NM_CLOUD_SETUP_LOG", "NM_CLOUD_SETUP_MAP_INTERFACES",
                 "NM_CLOUD_SETUP_ALLOW_NEW_CONN", "NM_CLOUD_SETUP_BACKEND",
                 "NM_CLOUD_SETUP_STATE_DIR", "NM_CLOUD_SETUP_GCP_ALIAS_IPS",
                 "NM_CLOUD_SETUP_GCP_FORWARDED_IPS", "NM_CLOUD_SETUP_GCP_TARGET_INSTANCE_IPS",
                 "NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE", "LIBNM_USE_SESSION_BUS"):
        assert name in page, name


def test_make_install_lays_out_the_expected_files(tmp_path):
    need("make")
    dest = tmp_path / "root"
    result = subprocess.run(["make", "-C", str(ROOT), "install", f"DESTDIR={dest}",
                             "PREFIX=/usr", f"PYTHON={sys.executable}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in ("usr/bin/nm-cloud-setup", "usr/bin/nm-cloud-setup-emulator",
                 "usr/bin/nm-cloud-metadata-service",
                 "usr/lib/systemd/system/nm-cloud-metadata.service",
                 "usr/lib/systemd/system/nm-cloud-setup.service",
                 "usr/lib/systemd/system/nm-cloud-setup.timer",
                 "usr/lib/NetworkManager/dispatcher.d/90-nm-cloud-setup.sh",
                 "usr/lib/NetworkManager/dispatcher.d/pre-up.d/90-nm-cloud-setup.sh",
                 "usr/share/man/man8/nm-cloud-setup.8",
                 "etc/iproute2/rt_protos.d/nm-cloud-setup.conf"):
        assert (dest / path).exists(), path
    service = (dest / "usr/lib/systemd/system/nm-cloud-setup.service").read_text()
    assert "ExecStart=/usr/bin/nm-cloud-setup\n" in service
    assert os.access(dest / "usr/lib/NetworkManager/dispatcher.d/90-nm-cloud-setup.sh", os.X_OK)
    assert list(dest.glob("usr/lib/python3*/site-packages/nm_cloud_setup/cli.py"))
