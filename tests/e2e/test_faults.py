"""The fault matrix: every fault end to end, against real NetworkManager and the emulator.

Each case asserts three things: the exit status and one clear line naming the
cause; what was configured before is still configured (nothing lost); and the
next healthy run converges to the right state.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List

import pytest

from harness.kernel_view import kernel_state, policy_routes, policy_rules
from harness.sandbox import run
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.providers.ec2 import MACS, TOKEN_PATH
from tests.support.layout import expected_layout
from tests.support.scenarios import set_scenario
from tests.support.vm import run_tool

pytestmark = pytest.mark.root

HEALTHY = scenarios.generate(2, 3)


def set_faults(emulator, rules: List[Dict], latency: float = 0.0) -> None:
    with emulator.state.lock:
        emulator.state.rules = rules
        emulator.state.latency = latency


def assert_converged(sandbox, emulator, scenario=None) -> None:
    """A healthy run brings the VM to the layout of ``scenario`` (default: HEALTHY)."""
    set_faults(emulator, [])
    set_scenario(emulator, scenario or scenarios.generate(2, 3))
    result = run_tool(sandbox, emulator.url)
    assert result.returncode == 0, result.stdout + result.stderr
    rules, routes = expected_layout(emulator.state.scenario["interfaces"],
                                    {n.mac.upper(): n.ifname for n in sandbox.nics})
    assert policy_rules(sandbox) == rules and policy_routes(sandbox) == routes


def mutate(change: Callable[[dict], None]) -> Callable[[object], None]:
    def apply(emulator) -> None:
        scenario = scenarios.generate(2, 3)
        change(scenario)
        set_scenario(emulator, scenario)
    return apply


def rules(*items: Dict) -> Callable[[object], None]:
    return lambda emulator: set_faults(emulator, list(items))


# (id, fault, exit status, text that must appear in stdout+stderr)
METADATA_FAULTS = [
    ("never-answers", rules({"match": "interfaces/macs/", "hang": True, "hang_seconds": 8}),
     1, "no answer within 3 s"),
    ("slow-past-timeout", rules({"match": "interfaces/macs/", "status": 200, "delay": 3.5}),
     1, "no answer within 3 s"),
    ("500-burst", rules({"match": "local-ipv4s", "status": 500, "times": 2}), 0, "retrying"),
    ("503-burst", rules({"match": "interfaces/macs/", "status": 503, "times": 3}), 0, "retrying"),
    ("500-persistent", rules({"match": "00:02/local-ipv4s", "status": 500}), 1,
     "02:00:00:00:00:02: local-ipv4s: "),
    ("429-retry-after", rules({"match": "interfaces/macs/", "status": 429, "times": 2,
                               "headers": {"Retry-After": "1"}}), 0, "retrying in 1.00 s"),
    ("429-no-retry-after", rules({"match": "interfaces/macs/", "status": 429, "times": 2}), 0,
     "HTTP 429"),
    ("401-stale-token", rules({"match": "interfaces/macs/", "status": 401, "times": 1}), 0,
     "provider ec2 detected"),
    ("redirect", rules({"match": "interfaces/macs/", "status": 302,
                        "headers": {"Location": "http://192.0.2.1/elsewhere"}}), 1,
     "redirect"),
    ("cut-short", rules({"match": "00:01/local-ipv4s", "status": 200, "body": "172.31",
                         "headers": {"Content-Length": "100"}}), 1, "request failed"),
    ("garbage", rules({"match": "interfaces/macs/", "status": 200,
                       "body": "<html>hello</html>"}), 1, "invalid MAC address"),
    ("binary", rules({"match": "00:02/subnet-ipv4-cidr-block", "status": 200,
                      "body": "\x00\xff\xfe\x80"}), 1, "not UTF-8"),
    ("too-large", rules({"match": "00:02/local-ipv4s", "status": 200, "body": "1" * 600000}), 1,
     "body too large"),
    ("invalid-ip", mutate(lambda s: s["interfaces"][1]["addresses"].append("172.31.32.999")), 1,
     "invalid IPv4 address '172.31.32.999'"),
    ("out-of-range-ip", mutate(lambda s: s["interfaces"][1]["addresses"].append("224.0.0.9")),
     1, "224.0.0.9 cannot be assigned"),
    ("invalid-cidr", mutate(lambda s: s["interfaces"][1].update(subnet="172.31.32.0/99")), 1,
     "invalid IPv4 subnet"),
    ("duplicate-mac", mutate(lambda s: s["interfaces"].append(dict(s["interfaces"][0]))), 1,
     "duplicate MAC address 02:00:00:00:00:01"),
    ("foreign-mac", mutate(lambda s: s["interfaces"].append(scenarios.nic(7, 2))), 0,
     "skip fetching meta data for 02:00:00:00:00:08"),
    ("empty-nic-list", mutate(lambda s: s.update(interfaces=[])), 1,
     "the interface list is empty"),
]


LISTING = MACS


def _token_fetched_again(paths: Dict[str, int], output: str) -> None:
    """The 401 reached the run: the listing was asked twice, around a second token."""
    assert paths.get(TOKEN_PATH) == 2 and paths.get(LISTING) == 2, paths


# Proof, from the emulator's request counts and the run's log, that the fault fired.
FIRED: Dict[str, Callable[[Dict[str, int], str], None]] = {
    "401-stale-token": _token_fetched_again,
}


@pytest.mark.parametrize("case_id, fault, status, text", METADATA_FAULTS,
                         ids=[c[0] for c in METADATA_FAULTS])
def test_metadata_fault(nm_sandbox, emulator, case_id, fault, status, text):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    configured = kernel_state(nm_sandbox)
    fault(emulator)
    with emulator.state.lock:
        emulator.state.paths = {}

    result = run_tool(nm_sandbox, emulator.url)

    output = result.stdout + result.stderr
    assert result.returncode == status, output
    assert text in output
    if status:
        assert result.stderr.startswith("nm-cloud-setup: error: ")
        assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in output
    if case_id in FIRED:
        with emulator.state.lock:
            FIRED[case_id](dict(emulator.state.paths), output)
    assert kernel_state(nm_sandbox) == configured  # nothing lost
    assert_converged(nm_sandbox, emulator)


def test_metadata_server_not_listening(nm_sandbox, emulator):
    assert run_tool(nm_sandbox, emulator.url).returncode == 0
    configured = kernel_state(nm_sandbox)
    result = run_tool(nm_sandbox, "http://127.0.0.1:9")
    assert result.returncode == 0  # no provider detected: upstream's status
    assert "provider ec2 not detected: " in result.stdout and "cannot connect" in result.stdout
    assert "<warn>  no provider detected" in result.stdout  # as upstream: one was enabled
    assert kernel_state(nm_sandbox) == configured
    assert_converged(nm_sandbox, emulator)


def test_proxies_in_the_environment_are_ignored(nm_sandbox, emulator):
    dead = "http://127.0.0.1:9"
    result = run_tool(nm_sandbox, emulator.url, extra={
        "http_proxy": dead, "HTTP_PROXY": dead, "https_proxy": dead, "all_proxy": dead,
        "no_proxy": "", "NO_PROXY": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                            "172.31.16.12/20"]


# -- NetworkManager faults -------------------------------------------------------------


def start_tool(sandbox, url, **extra) -> subprocess.Popen:
    env = sandbox.env(NM_CLOUD_SETUP_EC2="yes", NM_CLOUD_SETUP_EC2_HOST=url,
                      NM_CLOUD_SETUP_LOG="DEBUG", NM_CLOUD_SETUP_BACKEND="nm",
                      NM_CLOUD_SETUP_STATE_DIR=str(sandbox.workdir / "state"), **extra)
    return subprocess.Popen([sys.executable, "-m", "nm_cloud_setup"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, marker: str, timeout: float = 30) -> List[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never came: {''.join(lines)}")


def finish(proc: subprocess.Popen, seen: List[str], sandbox):
    out, err = proc.communicate(timeout=60)
    sandbox.settle()
    return proc.returncode, "".join(seen) + out, err


def test_networkmanager_not_running(nm_sandbox, emulator):
    result = run_tool(nm_sandbox, emulator.url,
                      extra={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"})
    assert result.returncode == 1
    assert "<info>  NetworkManager is not running" in result.stdout
    assert result.stderr.startswith("nm-cloud-setup: error: ")
    assert_converged(nm_sandbox, emulator)


def test_networkmanager_restarted_mid_run(nm_sandbox, emulator):
    """The run holds device objects read from one NetworkManager and applies through the
    next: stopped (SIGSTOP) after reading the devices, before any change, it is
    continued only once NetworkManager has restarted."""
    set_faults(emulator, [], latency=0.3)
    proc = start_tool(nm_sandbox, emulator.url)
    seen = wait_for_line(proc, "get-config: starting")
    proc.send_signal(signal.SIGSTOP)
    try:
        assert proc.poll() is None  # the restart is inside the run
        before = nm_sandbox.nm_proc.pid
        nm_sandbox.stop_nm()
        nm_sandbox.start_nm()
        assert nm_sandbox.nm_proc.pid != before
    finally:
        proc.send_signal(signal.SIGCONT)
    status, out, err = finish(proc, seen, nm_sandbox)
    assert "Traceback" not in out + err
    print(out, err)  # for the record when it fails
    assert status == 0, out + err
    assert "reapplied" in out
    # Only the restarted NetworkManager was ever given anything: it holds the layout.
    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                            "172.31.16.12/20"]
    for nic in nm_sandbox.nics:
        nm_sandbox.nmcli("--wait", "20", "connection", "up", nic.ifname, check=False)
    assert_converged(nm_sandbox, emulator)


def test_device_disappearing_mid_run(nm_sandbox, emulator):
    set_faults(emulator, [], latency=0.3)
    proc = start_tool(nm_sandbox, emulator.url)
    seen = wait_for_line(proc, "found interfaces")
    run("ip", "-n", nm_sandbox.host_ns, "link", "del", "eth2")
    status, out, err = finish(proc, seen, nm_sandbox)
    # An unplugged NIC is not a failure: skipped with upstream's line, the rest configured.
    assert status == 0, out + err
    assert ("config device 02:00:00:00:00:02: device has no applied connection (Object does "
            "not exist") in out
    assert "Traceback" not in out + err
    assert nm_sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                            "172.31.16.12/20"]
    nm_sandbox.readd_nic("eth2")
    nm_sandbox.nmcli("--wait", "20", "connection", "up", "eth2")
    assert_converged(nm_sandbox, emulator)


RETRY = "applied connection changed in the meantime. Retry..."


def test_another_client_changing_the_applied_connection(nm_sandbox, emulator):
    """A version-id mismatch storm: someone reapplies eth1 over and over meanwhile.

    Runs (each from the DHCP profiles, so each has eth1 to reapply) until one of them
    has met the storm, its retry in the log; every run ends well or gives up saying why.
    """
    stop_file = nm_sandbox.workdir / "storm-stop"
    stop_file.unlink(missing_ok=True)
    storm = subprocess.Popen(
        ["sh", "-c", f"i=0; while [ ! -e {stop_file} ]; do i=$(( i % 100 + 1 )); "
         "nmcli device modify eth1 ipv4.dns-priority $i >/dev/null 2>&1; done"],
        env=nm_sandbox.env())  # (not date +%N: a leading 0 is octal to sh, and kills it)
    results = []
    try:
        for _ in range(15):
            result = run_tool(nm_sandbox, emulator.url)
            results.append(result)
            if RETRY in result.stdout:
                break
            nm_sandbox.reset_profiles()
    finally:
        stop_file.touch()
        storm.wait(timeout=30)
    logs = "".join(r.stdout + r.stderr for r in results)
    assert RETRY in results[-1].stdout, logs  # the storm reached a run
    for result in results:
        output = result.stdout + result.stderr
        assert "Traceback" not in output
        assert result.returncode == 0 or "changed 5 times" in result.stderr, output
    assert_converged(nm_sandbox, emulator)


# -- process faults --------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["before-fetch", "during-fetch", "during-reapply"])
def test_sigterm_at_every_stage(nm_sandbox, emulator, stage):
    before = {n: (nm_sandbox.addresses(n),) for n in ("eth1", "eth2")}
    marker = {"before-fetch": "start detecting ec2", "during-fetch": "get-config: starting",
              "during-reapply": "reapply connection"}[stage]
    set_faults(emulator, [], latency=0.2 if stage != "during-reapply" else 0.0)
    proc = start_tool(nm_sandbox, emulator.url)
    seen = wait_for_line(proc, marker)
    proc.send_signal(signal.SIGTERM)
    status, out, err = finish(proc, seen, nm_sandbox)

    planned = {"eth1": (["172.31.16.10/20", "172.31.16.11/20", "172.31.16.12/20"],),
               "eth2": (["172.31.32.10/20", "172.31.32.11/20", "172.31.32.12/20"],)}
    for ifname in ("eth1", "eth2"):
        assert (nm_sandbox.addresses(ifname),) in (before[ifname], planned[ifname])
    if stage == "during-reapply":
        assert (nm_sandbox.addresses("eth1"),) == planned["eth1"]  # the device in hand
    else:
        assert status == 1 and "cancelled by SIGTERM" in err
        assert {n: (nm_sandbox.addresses(n),) for n in before} == before
    assert_converged(nm_sandbox, emulator)


@pytest.fixture
def read_only_dir(tmp_path):
    path = tmp_path / "ro"
    path.mkdir()
    run("mount", "--bind", str(path), str(path))
    run("mount", "-o", "remount,ro,bind", str(path))
    yield path
    run("umount", str(path), check=False)


@pytest.mark.parametrize("kind", ["read-only", "missing"])
def test_state_directory_unusable_costs_only_the_state(nm_sandbox, emulator, read_only_dir,
                                                       kind):
    state = read_only_dir / "state" if kind == "read-only" else "/proc/none/state"
    result = run_tool(nm_sandbox, emulator.url, extra={"NM_CLOUD_SETUP_STATE_DIR": str(state)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "running without it" in result.stdout and "<warn>" in result.stdout
    assert nm_sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20",
                                            "172.31.32.12/20"]


def test_netlink_refuses_to_change_what_it_could_not_record(kernel_sandbox, read_only_dir):
    from nm_cloud_setup.emulator.server import EmulatorServer
    from tests.support.vm import run_in_vm

    with kernel_sandbox.entered():
        server = EmulatorServer(("127.0.0.1", 0), scenarios.generate(2, 3))
    server.start()
    try:
        result = run_in_vm(kernel_sandbox, server.url,
                           {"NM_CLOUD_SETUP_STATE_DIR": str(read_only_dir)})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "without it, what this backend adds could not be removed later" in result.stderr
    assert kernel_sandbox.addresses("eth1") == ["172.31.16.10/20"]  # nothing changed
    assert not policy_rules(kernel_sandbox)
