"""The command as users run it: environment in, log lines and exit status out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

from nm_cloud_setup import __version__

STATE = tempfile.mkdtemp(prefix="ncs-test-state-")


def tool(env, timeout=60, **kw):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NM_CLOUD_SETUP", "DBUS"))}
    base["NM_CLOUD_SETUP_STATE_DIR"] = STATE
    return subprocess.run([sys.executable, "-m", "nm_cloud_setup", *kw.get("args", [])],
                          env={**base, **env}, capture_output=True, text=True, timeout=timeout)


def test_no_provider_enabled_exits_zero():
    result = tool({"NM_CLOUD_SETUP_LOG": "DEBUG"})
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"<debug> nm-cloud-setup {__version__} starting...")
    assert "<info>  provider ec2 not detected: provider is disabled" in result.stdout
    assert "<info>  provider GCP not detected: provider is disabled" in result.stdout
    assert lines[-1].endswith("<info>  no provider detected")


def test_default_log_level_is_quiet():
    assert tool({}).stdout == ""


def test_malformed_variable_warns_and_uses_default():
    result = tool({"NM_CLOUD_SETUP_EC2": "perhaps"})
    assert result.returncode == 0
    assert 'NM_CLOUD_SETUP_EC2="perhaps" is not a boolean' in result.stdout
    assert "<warn>" in result.stdout


def test_provider_not_answering_is_not_detected(emulator):
    with emulator.state.lock:
        emulator.state.rules = [{"match": "/", "status": 404}]
    result = tool({"NM_CLOUD_SETUP_EC2": "yes", "NM_CLOUD_SETUP_EC2_HOST": emulator.url,
                   "NM_CLOUD_SETUP_LOG": "INFO"})
    assert result.returncode == 0
    assert "provider ec2 not detected: " in result.stdout
    assert "no provider detected" in result.stdout


def test_networkmanager_not_running(emulator, tmp_path):
    result = tool({"NM_CLOUD_SETUP_EC2": "yes", "NM_CLOUD_SETUP_EC2_HOST": emulator.url,
                   "NM_CLOUD_SETUP_LOG": "INFO", "NM_CLOUD_SETUP_BACKEND": "nm",
                   "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})
    assert "<info>  provider ec2 detected" in result.stdout
    assert "<info>  NetworkManager is not running" in result.stdout
    assert result.returncode == 1
    assert result.stderr.startswith("nm-cloud-setup: error:")


def test_sigterm_during_fetch_cancels_promptly(emulator):
    with emulator.state.lock:
        emulator.state.latency = 3.0
    env = {k: v for k, v in os.environ.items() if not k.startswith("NM_CLOUD_SETUP")}
    env.update({"NM_CLOUD_SETUP_STATE_DIR": STATE, "NM_CLOUD_SETUP_EC2": "yes",
                "NM_CLOUD_SETUP_EC2_HOST": emulator.url,
                "NM_CLOUD_SETUP_LOG": "DEBUG"})
    proc = subprocess.Popen([sys.executable, "-m", "nm_cloud_setup"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - started < 2.0
    assert proc.returncode == 1
    assert "cancelled by SIGTERM" in err


def test_help_and_version():
    assert "NM_CLOUD_SETUP_EC2" in tool({}, args=["--help"]).stdout
    assert __version__ in tool({}, args=["--version"]).stdout


def test_concurrent_detection_later_providers_in_the_order_are_not_awaited(make_emulator,
                                                                           tmp_path):
    refusing = make_emulator("ec2")
    with refusing.state.lock:
        refusing.state.rules = [{"match": "/", "status": 404}]
    hanging = make_emulator("gcp")
    with hanging.state.lock:
        hanging.state.rules = [{"match": "/", "hang": True, "hang_seconds": 20}]
    azure = make_emulator("azure")
    started = time.monotonic()
    result = tool({"NM_CLOUD_SETUP_EC2": "yes", "NM_CLOUD_SETUP_EC2_HOST": refusing.url,
                   "NM_CLOUD_SETUP_GCP": "yes", "NM_CLOUD_SETUP_GCP_HOST": hanging.url,
                   "NM_CLOUD_SETUP_AZURE": "yes", "NM_CLOUD_SETUP_AZURE_HOST": azure.url,
                   "NM_CLOUD_SETUP_LOG": "INFO", "NM_CLOUD_SETUP_BACKEND": "nm",
                   "NM_CLOUD_SETUP_DMI_DIR": str(tmp_path),
                   "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})
    assert time.monotonic() - started < 10
    assert "<info>  provider azure detected" in result.stdout
    assert "<info>  provider azure chosen (first detected in the order ec2, azure, gcp)" \
        in result.stdout
    assert "provider GCP detected" not in result.stdout
    assert "<info>  provider aliyun not detected: provider is disabled" in result.stdout


def test_metrics_file_of_a_failed_run(emulator, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    result = tool({"NM_CLOUD_SETUP_EC2": "yes", "NM_CLOUD_SETUP_EC2_HOST": emulator.url,
                   "NM_CLOUD_SETUP_BACKEND": "nm", "NM_CLOUD_SETUP_METRICS_DIR": str(tmp_path),
                   "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})
    assert result.returncode == 1
    assert [p.name for p in tmp_path.iterdir()] == ["nm-cloud-setup.prom"]
    found = {s.name: s for f in text_string_to_metric_families(
        (tmp_path / "nm-cloud-setup.prom").read_text()) for s in f.samples}
    assert found["nm_cloud_setup_last_run_success"].value == 0
    assert found["nm_cloud_setup_last_run_metadata_requests"].value == emulator.state.requests
    assert found["nm_cloud_setup_info"].labels["provider"] == "ec2"


def test_status_check_cannot_tell_without_a_provider(tmp_path):
    result = tool({"NM_CLOUD_SETUP_METRICS_DIR": str(tmp_path)}, args=["status", "--check"])
    assert result.returncode == 2
    assert result.stdout.splitlines()[-1] == "check: cannot tell: no provider detected"
    assert list(tmp_path.iterdir()) == []  # status changes nothing, the last run's file too
