"""Addresses moving between NICs: never on two at once, on both backends.

Two NICs in one subnet (as EC2 allows), each with secondary addresses; the
metadata then moves addresses from one to the other.  The kernel is watched
during the run (``ip monitor``): at no moment may two NICs hold a moved address,
nor a rule send it to one NIC's tables while the other holds it.
"""

from __future__ import annotations

from typing import Dict, Iterator, List

import pytest

from harness.kernel_view import policy_routes, policy_rules
from harness.monitor import KernelWatch
from harness.sandbox import Nic, Sandbox
from harness.sandbox import run as sandbox_run
from nm_cloud_setup.emulator.server import EmulatorServer
from tests.support.layout import expected_layout
from tests.support.requirements import require_root
from tests.support.vm import run_in_vm, run_tool

pytestmark = pytest.mark.root

SUBNET = "172.31.16.0/20"
MACS = ("02:00:00:00:00:01", "02:00:00:00:00:02")
NICS = [Nic("eth1", MACS[0], "172.31.16.10", SUBNET), Nic("eth2", MACS[1], "172.31.16.20", SUBNET)]


def scenario(first: List[int], second: List[int]) -> Dict:
    """eth1 with 172.31.16.HOST for each of ``first`` (its primary first), eth2 likewise."""
    return {"interfaces": [
        {"mac": mac, "device_number": number, "subnet": SUBNET,
         "addresses": [f"172.31.16.{host}" for host in hosts]}
        for number, (mac, hosts) in enumerate(zip(MACS, (first, second)))]}


START = scenario([10, 11, 12], [20, 21, 22])
# (id, metadata after, {ifname: Reapply count}): the counts show that a NIC that only
# loses or only gains costs one Reapply, and one that does both costs two.
MOVES = [
    ("to-the-first-nic", scenario([10, 11, 12, 22], [20, 21]), {"eth1": 1, "eth2": 1}),
    ("to-the-second-nic", scenario([10, 11], [20, 21, 22, 12]), {"eth1": 1, "eth2": 1}),
    ("swap", scenario([10, 11, 22], [20, 21, 12]), {"eth1": 2, "eth2": 2}),
    ("all-at-once", scenario([10, 21, 22, 13], [20, 11, 12, 23]), {"eth1": 2, "eth2": 2}),
    ("with-a-new-and-a-removed-one", scenario([10, 22, 14], [20, 21]), {"eth1": 2, "eth2": 1}),
]


@pytest.fixture(scope="module")
def nm_same_subnet() -> Iterator[Sandbox]:
    require_root()
    with Sandbox(NICS) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def kernel_same_subnet() -> Iterator[Sandbox]:
    require_root(with_nm=False)
    with Sandbox(NICS, with_nm=False) as sandbox:
        yield sandbox


@pytest.fixture(params=["nm", "netlink"])
def vm(request, make_emulator):
    """(sandbox, emulator, run) for the backend: run() runs the tool once."""
    if request.param == "nm":
        sandbox = request.getfixturevalue("nm_same_subnet")
        sandbox.reset_profiles()
        emulator = make_emulator(scenario=START)
        yield sandbox, emulator, lambda: run_tool(sandbox, emulator.url)
        return
    sandbox = request.getfixturevalue("kernel_same_subnet")
    sandbox.reset_kernel()
    for path in (sandbox.workdir / "state").glob("*"):
        path.unlink()
    with sandbox.entered():
        emulator = EmulatorServer(("127.0.0.1", 0), START)
    emulator.start()
    yield sandbox, emulator, lambda: run_in_vm(sandbox, emulator.url)
    emulator.shutdown()
    emulator.server_close()


def reapplies(output: str) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for line in output.splitlines():
        if "> config device" in line and ": reapply connection" in line:
            mac = line.split("config device ")[1].split(":", 6)[:6]
            ifname = {m: f"eth{n + 1}" for n, m in enumerate(MACS)}[":".join(mac)]
            counts[ifname] = counts.get(ifname, 0) + 1
    return counts


@pytest.mark.parametrize("after, counts", [m[1:] for m in MOVES], ids=[m[0] for m in MOVES])
def test_moved_address_is_never_on_two_nics(vm, after, counts):
    sandbox, emulator, run = vm
    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    with emulator.state.lock:
        emulator.state.scenario = after

    with KernelWatch(sandbox, {0: "eth1", 1: "eth2"}) as watch:
        result = run()

    assert result.returncode == 0, result.stdout + result.stderr
    assert watch.timeline.events, "the monitor saw nothing"
    assert not watch.timeline.violations, "\n".join(watch.timeline.violations + watch.lines)
    for number, nic in enumerate(sandbox.nics):
        wanted = after["interfaces"][number]["addresses"]
        assert sorted(sandbox.addresses(nic.ifname)) == sorted(f"{a}/20" for a in wanted)
    rules, routes = expected_layout(after["interfaces"], {n.mac: n.ifname for n in sandbox.nics})
    assert policy_rules(sandbox) == rules and policy_routes(sandbox) == routes
    assert reapplies(result.stdout) == counts
    again = run()
    assert again.returncode == 0 and reapplies(again.stdout) == {}


# -- what the soak found (harness/soak): each a regression test here -----------------------


def in_vm_emulator(sandbox, scenario) -> EmulatorServer:
    with sandbox.entered():
        server = EmulatorServer(("127.0.0.1", 0), scenario)
    return server.start()


def test_what_networkmanager_forgot_in_a_restart_is_still_removed(nm_same_subnet):
    """A restart makes NetworkManager forget Reapply's changes but leaves them in the
    kernel; a later move must neither leave the address's old rules behind nor put the
    address on two NICs."""
    sandbox = nm_same_subnet
    sandbox.reset_profiles()
    for path in (sandbox.workdir / "state").glob("*"):
        path.unlink()
    emulator = in_vm_emulator(sandbox, START)
    run = lambda: run_in_vm(sandbox, emulator.url, {"NM_CLOUD_SETUP_BACKEND": "nm"})  # noqa: E731
    try:
        assert run().returncode == 0
        sandbox.stop_nm()
        sandbox.start_nm()
        for nic in sandbox.nics:
            sandbox.nmcli("--wait", "20", "connection", "up", nic.ifname, check=False)
        after = scenario([10, 11, 22], [20, 21])  # 12 removed, 22 moved to eth1
        with emulator.state.lock:
            emulator.state.scenario = after
        with KernelWatch(sandbox, {0: "eth1", 1: "eth2"}) as watch:
            result = run()
        sandbox.settle()
    finally:
        emulator.shutdown()
        emulator.server_close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NetworkManager forgot entries it had been given" in result.stdout
    assert not watch.timeline.violations, "\n".join(watch.timeline.violations + watch.lines)
    assert sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20", "172.31.16.22/20"]
    assert sandbox.addresses("eth2") == ["172.31.16.20/20", "172.31.16.21/20"]
    rules, routes = expected_layout(after["interfaces"], {n.mac: n.ifname for n in sandbox.nics})
    assert policy_rules(sandbox) == rules and policy_routes(sandbox) == routes


def test_an_unplugged_nic_leaves_no_rules_behind(vm):
    sandbox, emulator, run = vm
    assert run().returncode == 0
    sandbox_run("ip", "-n", sandbox.host_ns, "link", "del", "eth2")
    try:
        with emulator.state.lock:  # 21 and 22 go to eth1 once eth2 is gone
            emulator.state.scenario = scenario([10, 11, 21, 22], [20])
        result = run()
        assert result.returncode == 0, result.stdout + result.stderr
        sandbox.settle()
        assert not {r for r in policy_rules(sandbox) if r[2] in ("30201", "30401")}
        assert sandbox.addresses("eth1") == ["172.31.16.10/20", "172.31.16.11/20",
                                             "172.31.16.21/20", "172.31.16.22/20"]
    finally:
        sandbox.readd_nic("eth2")
        if sandbox.with_nm:
            sandbox.nmcli("--wait", "20", "connection", "up", "eth2", check=False)
        else:
            sandbox.assign_primaries()


def test_removing_the_first_address_of_a_subnet_keeps_the_others(vm):
    """With the metadata's /22 and DHCP's /20, 172.31.16.11/22 is the first address of its
    subnet: the kernel removes every other address of that subnet with it, unless told."""
    sandbox, emulator, run = vm
    wide = scenario([10, 11, 12, 13], [20])
    for iface in wide["interfaces"]:
        iface["subnet"] = "172.31.16.0/22"
    with emulator.state.lock:
        emulator.state.scenario = wide
    assert run().returncode == 0
    wide["interfaces"][0]["addresses"].remove("172.31.16.11")
    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    sandbox.settle()
    assert {"172.31.16.12/22", "172.31.16.13/22"} <= set(sandbox.addresses("eth1"))
    assert "172.31.16.11/22" not in sandbox.addresses("eth1")
