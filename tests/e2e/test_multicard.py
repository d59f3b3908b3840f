"""EC2 instances with several network cards: eth2 on card 1 has device-number 0, as the
primary on card 0 does; each gets tables of its own, on both backends."""

from __future__ import annotations

import pytest

from harness.kernel_view import policy_routes, policy_rules
from nm_cloud_setup.emulator import scenario as scenarios
from tests.support.scenarios import set_scenario

pytestmark = pytest.mark.root


def two_cards():
    scenario = scenarios.generate(2, 2)
    scenario["interfaces"][0].update(network_card=0, device_number=0)
    scenario["interfaces"][1].update(network_card=1, device_number=0)
    return scenario


def test_a_nic_on_card_one_gets_the_card_tables(on_each_backend):
    backend, sandbox, emulator, run = on_each_backend
    set_scenario(emulator, two_cards())
    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is also that of" not in result.stdout  # no NIC left unconfigured
    assert sandbox.addresses("eth2") == ["172.31.32.10/20", "172.31.32.11/20"]
    rules = policy_rules(sandbox)
    for address in ("172.31.32.10", "172.31.32.11"):
        assert (30200, address, "31000") in rules and (30400, address, "31100") in rules
    for address in ("172.31.16.10", "172.31.16.11"):
        assert (30200, address, "30200") in rules and (30400, address, "30400") in rules
    routes = {(table, dst, dev) for table, dst, _, dev, _ in policy_routes(sandbox)}
    assert routes == {("30200", "172.31.16.0/20", "eth1"), ("30400", "default", "eth1"),
                      ("31000", "172.31.32.0/20", "eth2"), ("31100", "default", "eth2")}

    status = run("status", "--check")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "eth2 (02:00:00:00:00:02), network card 1, table index 0: in sync" in status.stdout
    again = run()
    assert again.returncode == 0 and "device needs no update" in again.stdout
