"""The sandbox VMs of the e2e tests: a real NetworkManager in a namespace, or the kernel alone.

Tests marked ``root`` need root, network namespaces and NetworkManager,
dnsmasq and dbus-daemon.  Where those are missing they are skipped with the
reason, except when ``NCS_REQUIRE_ALL=1`` (set by .ci/run): then they fail
(``tests.support.requirements``).

Two NetworkManager daemons (``tests.support.nm_daemons``): the machine's own and
Debian 13's.  A module runs on both with ``pytestmark = BOTH_DAEMONS``; otherwise
on the machine's own.  The sandbox VMs are dual-stack capable (IPv6 subnets on
the cloud side, router advertisements and DHCPv6); a profile only uses IPv6 where
a test asks for it.
"""

from __future__ import annotations

from typing import Dict, Iterator

import pytest

from harness.sandbox import Sandbox, nics_for_scenario
from nm_cloud_setup.emulator import scenario as scenarios
from nm_cloud_setup.emulator.server import EmulatorServer
from tests.support.nm_daemons import NM_DAEMONS
from tests.support.requirements import REQUIRE_ALL, require_root
from tests.support.vm import run_in_vm, run_tool


@pytest.fixture(scope="session")
def nm_sandboxes() -> Iterator:
    """Sandboxes with NetworkManager, one per daemon, made when first asked for."""
    made: Dict[str, Sandbox] = {}

    def get(daemon_id: str) -> Sandbox:
        if daemon_id not in made:
            require_root()
            root = NM_DAEMONS[daemon_id]
            if root is not None and not (root / "usr/sbin/NetworkManager").exists():
                reason = f"needs {root} (scripts/setup.sh builds it with debootstrap)"
                pytest.fail(reason) if REQUIRE_ALL else pytest.skip(reason)
            sandbox = Sandbox(nics_for_scenario(2, ipv6=True), nm_root=root)
            sandbox.__enter__()
            made[daemon_id] = sandbox
        return made[daemon_id]

    yield get
    for sandbox in made.values():
        sandbox.stop()


@pytest.fixture(scope="session")
def nm_daemon_id(request) -> str:
    """Which NetworkManager (a key of NM_DAEMONS); the machine's own unless parametrized."""
    return getattr(request, "param", "nm-host")


@pytest.fixture(scope="session")
def nm_sandbox_session(nm_sandboxes, nm_daemon_id: str) -> Sandbox:
    return nm_sandboxes(nm_daemon_id)


@pytest.fixture
def nm_sandbox(nm_sandbox_session: Sandbox) -> Sandbox:
    """The NetworkManager sandbox with fresh DHCP profiles on eth1 and eth2."""
    nm_sandbox_session.reset_profiles()
    return nm_sandbox_session


@pytest.fixture(scope="session")
def kernel_sandbox_session() -> Iterator[Sandbox]:
    require_root(with_nm=False)
    with Sandbox(nics_for_scenario(2, ipv6=True), with_nm=False) as sandbox:
        yield sandbox


@pytest.fixture
def kernel_sandbox(kernel_sandbox_session: Sandbox) -> Sandbox:
    """A VM without NetworkManager: two veth NICs with their DHCP-style primaries."""
    kernel_sandbox_session.reset_kernel()
    state = kernel_sandbox_session.workdir / "state"
    if state.exists():
        for path in state.iterdir():
            path.unlink()
    return kernel_sandbox_session


@pytest.fixture
def vm_emulator(kernel_sandbox):
    """The EC2 emulator listening on 127.0.0.1 inside the VM's namespace."""
    with kernel_sandbox.entered():
        server = EmulatorServer(("127.0.0.1", 0), scenarios.generate(2, 3))
    server.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["nm", "netlink"])
def on_each_backend(request, tmp_path):
    """(backend, sandbox, emulator, run): the test once with NetworkManager, once with the
    netlink backend; ``run(*args, **env)`` runs the tool there against the EC2 emulator,
    with ``NM_CLOUD_SETUP_METRICS_DIR`` set to ``tmp_path``."""
    if request.param == "nm":
        sandbox = request.getfixturevalue("nm_sandbox")
        emulator = request.getfixturevalue("emulator")
        runner = run_tool
    else:
        sandbox = request.getfixturevalue("kernel_sandbox")
        emulator = request.getfixturevalue("vm_emulator")
        runner = run_in_vm

    def run(*args, **extra):
        env = {"NM_CLOUD_SETUP_METRICS_DIR": str(tmp_path), **extra}
        return runner(sandbox, emulator.url, env, args=args)

    return request.param, sandbox, emulator, run
