"""What ships besides the package: units, dispatcher script, man pages, make install (the
Debian packages: test_debian.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.requirements import need

ROOT = Path(__file__).resolve().parent.parent


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
    assert_clean_sh(DISPATCHER)


def assert_clean_sh(script: Path) -> None:
    """POSIX sh that parses and that shellcheck passes."""
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    need("shellcheck")
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout


def stand_ins(tmp_path: Path, enabled: bool) -> tuple:
    """systemctl and systemd-run that record what they are asked; (env, log)."""
    log = tmp_path / "calls"
    for tool in ("systemctl", "systemd-run"):
        fake = tmp_path / tool
        fake.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n'
                        f'case "$*" in *is-enabled*) exit {0 if enabled else 1};; esac\n'
                        'exit 0\n')
        fake.chmod(0o755)
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}, log


def restarts(log: Path) -> list:
    return [c for c in (log.read_text().splitlines() if log.exists() else []) if "restart" in c]


@pytest.mark.parametrize("action, enabled, connection, expected", [
    ("pre-up", True, "eth1", "systemctl restart nm-cloud-setup.service"),
    ("dhcp4-change", True, "eth1", "systemctl --no-block restart nm-cloud-setup.service"),
    ("up", True, "eth1", None),
    ("pre-up", False, "eth1", None),
    ("dhcp4-change", False, "eth1", None),
    # a profile nm-cloud-setup made holds its whole plan (and its maker waits for it)
    ("pre-up", True, "nm-cloud-setup eth3", None),
])
def test_dispatcher_actions(tmp_path, action, enabled, connection, expected):
    """The script with a stand-in systemctl that records what it is asked."""
    env, log = stand_ins(tmp_path, enabled)
    result = subprocess.run(["sh", str(DISPATCHER), "eth1", action],
                            env={**env, "CONNECTION_ID": connection})
    assert result.returncode == 0
    assert restarts(log) == ([expected] if expected else [])


HOTPLUG = ROOT / "udev" / "nm-cloud-setup-hotplug.sh"
RULE = ROOT / "udev" / "90-nm-cloud-setup.rules.in"


def test_hotplug_helper_is_clean_sh():
    assert_clean_sh(HOTPLUG)


@pytest.mark.parametrize("devpath, enabled, expected", [
    ("/devices/pci0000:00/0000:00:05.0/virtio3/net/ens5", True, [
        "systemctl --no-block restart nm-cloud-setup.service",
        "systemd-run --quiet --no-block --on-active=20 --timer-property=AccuracySec=1s "
        "systemctl --no-block restart nm-cloud-setup.service"]),
    ("/devices/pci0000:00/0000:00:05.0/virtio3/net/ens5", False, []),
    ("/devices/virtual/net/eth3.42", True, []),  # a VLAN, a bond, a container's veth
    ("", True, []),
])
def test_hotplug_helper_reruns_the_service_now_and_20_s_later(tmp_path, devpath, enabled,
                                                              expected):
    env, log = stand_ins(tmp_path, enabled)
    result = subprocess.run(["sh", str(HOTPLUG)], env={**env, "DEVPATH": devpath,
                                                       "ACTION": "add", "INTERFACE": "ens5"})
    assert result.returncode == 0
    assert restarts(log) == expected


@pytest.mark.root
@pytest.mark.parametrize("action, runs", [("add", True), ("remove", True), ("change", False),
                                          ("move", False)])
def test_udev_rule_as_udevadm_reads_it(tmp_path, action, runs):
    """udev itself does not run here: ``udevadm test`` simulates an event on a veth in a
    scratch namespace, in a private mount namespace where the shipped rule is the only
    one (nothing of the machine's own udev is touched)."""
    from tests.support.requirements import require_root

    require_root(with_nm=False)
    need("udevadm")
    need("unshare")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "90-nm-cloud-setup.rules").write_text(
        RULE.read_text().replace("@libexecdir@", "/usr/libexec"))
    ns = f"ncs-udev-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "eth9", "type", "veth", "peer", "name",
                        "peer9"], check=True)
        script = (f"mount -t tmpfs none /run && mount -t tmpfs none /usr/lib/udev/rules.d && "
                  f"mount --bind {rules} /etc/udev/rules.d && "
                  f"udevadm test --action={action} /sys/class/net/eth9")
        result = subprocess.run(["ip", "netns", "exec", ns, "unshare", "-m", "--propagation",
                                 "private", "sh", "-c", script], capture_output=True, text=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Reading rules file: /etc/udev/rules.d/90-nm-cloud-setup.rules" in output
    about_ours = [line for line in output.splitlines() if "90-nm-cloud-setup.rules:" in line]
    assert not [line for line in about_ours if "invalid" in line.lower()
                or "ignor" in line.lower()], output  # udevadm's complaints name file:line
    assert ("run: '/usr/libexec/nm-cloud-setup-hotplug'" in output) is runs, output


@pytest.mark.parametrize("name", ["nm-cloud-setup.8", "nm-cloud-metadata-service.8",
                                  "nm-cloud-setup-emulator.1"])
def test_man_page_lints_clean(name):
    need("mandoc")
    page = ROOT / "man" / name
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
                 "usr/lib/udev/rules.d/90-nm-cloud-setup.rules",
                 "usr/libexec/nm-cloud-setup-hotplug",
                 "usr/share/man/man8/nm-cloud-setup.8",
                 "usr/share/man/man8/nm-cloud-metadata-service.8",
                 "usr/share/man/man1/nm-cloud-setup-emulator.1",
                 "etc/iproute2/rt_protos.d/nm-cloud-setup.conf"):
        assert (dest / path).exists(), path
    service = (dest / "usr/lib/systemd/system/nm-cloud-setup.service").read_text()
    assert "ExecStart=/usr/bin/nm-cloud-setup\n" in service
    assert os.access(dest / "usr/lib/NetworkManager/dispatcher.d/90-nm-cloud-setup.sh", os.X_OK)
    assert os.access(dest / "usr/libexec/nm-cloud-setup-hotplug", os.X_OK)
    rule = (dest / "usr/lib/udev/rules.d/90-nm-cloud-setup.rules").read_text()
    assert 'RUN+="/usr/libexec/nm-cloud-setup-hotplug"' in rule
    assert list(dest.glob("usr/lib/python3*/site-packages/nm_cloud_setup/cli.py"))
