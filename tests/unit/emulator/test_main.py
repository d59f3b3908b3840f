"""``nm-cloud-setup-emulator`` itself (emulator/__main__.py): the URL on the first line,
the scenario served until SIGINT, a bad address refused in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

from nm_cloud_setup.emulator import scenario as scenarios

COMMAND = [sys.executable, "-m", "nm_cloud_setup.emulator", "--listen", "127.0.0.1:0"]
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


def default_sigint() -> None:
    """SIGINT at its default in the child, whatever the parent ignores: an ignored SIGINT
    is inherited, and Python then installs no KeyboardInterrupt handler (mutmut's
    workers ignore it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def serve(*args: str):
    """(the URL it printed, a getter of paths, the process)."""
    proc = subprocess.Popen([*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    url = proc.stdout.readline().strip()

    def get(path: str, headers=None) -> str:
        request = urllib.request.Request(url + path, headers=headers or {})
        with DIRECT.open(request, timeout=10) as answer:
            return answer.read().decode()
    return url, get, proc


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return err


def test_a_generated_ec2_scenario_until_sigint():
    url, get, proc = serve("--nics", "3", "--ips", "2")
    try:
        assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        assert get("/latest/meta-data/network/interfaces/macs/").split() == [
            "02:00:00:00:00:01/", "02:00:00:00:00:02/", "02:00:00:00:00:03/"]
        assert get("/latest/meta-data/network/interfaces/macs/02:00:00:00:00:02/"
                   "local-ipv4s").split() == ["172.31.32.10", "172.31.32.11"]
    finally:
        err = stop(proc)
    assert "Traceback" not in err


def test_a_scenario_file_as_another_cloud(tmp_path):
    scenario = scenarios.generate(1, 2)
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    _url, get, proc = serve("--scenario", str(path), "--provider", "gcp")
    try:
        flavor = {"Metadata-Flavor": "Google"}
        nics = json.loads(get("/computeMetadata/v1/instance/network-interfaces/?recursive=true",
                              flavor))
        assert [nic["mac"] for nic in nics] == [scenario["interfaces"][0]["mac"]]
        assert nics[0]["ip"] == "172.31.16.10"
    finally:
        stop(proc)


def test_an_address_it_cannot_listen_on_is_one_line():
    result = subprocess.run([*COMMAND[:-1], "127.0.0.1:notaport"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: invalid literal for int() with base 10: 'notaport'"]
