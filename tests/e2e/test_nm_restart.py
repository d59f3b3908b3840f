"""A NetworkManager restart between reading a device and reapplying it.

NetworkManager numbers its device objects again when it restarts, so a path read
before the restart may be another NIC's after it.  Found by the long soak (seed
2004, step 154: a NIC plugged while NetworkManager restarted took the path of the
NIC being configured, whose plan was then reapplied onto it).
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from harness.sandbox import Sandbox, nics_for_scenario
from nm_cloud_setup.backends.nm.backend import NetworkManager
from nm_cloud_setup.errors import ApplyError, NoAppliedConnectionError
from nm_cloud_setup.model import Address
from tests.support.requirements import require_root

pytestmark = pytest.mark.root


def test_a_device_path_taken_by_another_nic_after_a_restart_is_not_reapplied():
    require_root()
    with Sandbox(nics_for_scenario(2)) as sandbox:
        sandbox.reset_profiles()
        nm = NetworkManager(sandbox.bus_address)
        nm.connect()
        try:
            eth1 = {d.ifname: d for d in nm.devices({})}["eth1"]
            current = _when_active(nm, eth1)
            extra = Address("172.31.16.99", 20)
            wanted = dataclasses.replace(current.applied,
                                         addresses=current.applied.addresses + (extra,))

            sandbox.stop_nm()
            sandbox.unplug("eth1")
            sandbox.start_nm()
            deadline = time.monotonic() + 20
            while "eth2" not in {d.ifname for d in nm.devices({})}:
                assert time.monotonic() < deadline, "NetworkManager did not come back"
                time.sleep(0.1)
            eth2 = {d.ifname: d for d in nm.devices({})}["eth2"]
            assert eth2.handle == eth1.handle, "the premise: eth2 now has eth1's old path"

            with pytest.raises(ApplyError, match='is "eth2" now, not "eth1"'):
                nm.apply(eth1, current, wanted)
        finally:
            nm.close()
        assert "172.31.16.99/20" not in sandbox.addresses("eth2")


def _when_active(nm, device, limit: float = 20.0):
    deadline = time.monotonic() + limit
    while True:
        try:
            return nm.current(device)
        except NoAppliedConnectionError:
            assert time.monotonic() < deadline, f"{device.ifname} never got a connection"
            time.sleep(0.1)
