"""The soak's oracle (harness/soak/checks.py ``expected``): what each NIC should hold,
from the tests' own layout (harness/layout.py), never the tool's planner; and what it is
compared with on NetworkManager: the applied connection read with busctl
(harness/nm_applied.py), as model values (harness/soak/vm.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.nm_applied import Family, entry
from harness.soak.checks import comparable, expected
from harness.soak.vm import _model_entries
from harness.soak.world import World
from nm_cloud_setup.model import Address, Route, Rule

HARNESS = Path(__file__).resolve().parents[3] / "harness"


def test_the_start_of_the_soak_on_networkmanager():
    wanted = expected(World.start(), "nm")
    assert sorted(wanted) == ["eth1", "eth2", "eth3"]
    eth1 = wanted["eth1"]
    assert eth1.addresses == (Address("172.31.16.10", 20), Address("172.31.16.11", 20),
                              Address("172.31.16.12", 20))
    assert set(eth1.routes) == {
        Route("172.31.16.0", 20, metric=10, table=30200),
        Route("0.0.0.0", 0, next_hop="172.31.16.1", metric=10, table=30400)}
    assert set(eth1.rules) == {
        *(Rule(30200, 30200, a, 32) for a in ("172.31.16.10", "172.31.16.11", "172.31.16.12")),
        *(Rule(30400, 30400, a, 32) for a in ("172.31.16.10", "172.31.16.11", "172.31.16.12")),
        Rule(30350, 254, None, 0, suppress_prefixlength=0)}
    eth3 = wanted["eth3"]  # slot 2: tables 30202 and 30402, subnet B
    assert set(eth3.routes) == {
        Route("172.31.32.0", 20, metric=10, table=30202),
        Route("0.0.0.0", 0, next_hop="172.31.32.1", metric=10, table=30402)}
    assert Rule(30402, 30402, "172.31.32.11", 32) in eth3.rules
    # eth2's profile holds a route and a rule of the administrator's: they stay
    assert Route("10.96.0.0", 16, next_hop="172.31.16.1", metric=100, table=30401) \
        in wanted["eth2"].routes
    assert Rule(30201, 30201, "10.95.0.1", 32) in wanted["eth2"].rules


def test_the_netlink_backend_has_no_profiles_of_the_admin():
    wanted = expected(World.start(), "netlink")
    assert Route("10.96.0.0", 16, next_hop="172.31.16.1", metric=100, table=30401) \
        not in wanted["eth2"].routes
    assert Rule(30201, 30201, "10.95.0.1", 32) not in wanted["eth2"].rules


def test_a_resized_subnet_and_unplugged_nics():
    world = World.start()
    world.prefix_a = 22
    world.plugged.discard(2)  # eth3 listed, not plugged: not configured
    wanted = expected(world, "netlink")
    assert sorted(wanted) == ["eth1", "eth2"]
    assert Address("172.31.16.21", 22) in wanted["eth2"].addresses
    assert Route("172.31.16.0", 22, metric=10, table=30201) in wanted["eth2"].routes
    addresses, _routes, _rules = comparable(wanted["eth2"])
    assert Address("172.31.16.20", 22) not in addresses  # a DHCP primary: left out


def test_no_single_address_case():
    world = World.start()
    world.plugged = {0}
    with pytest.raises(ValueError, match="single-address"):
        expected(world, "netlink")


def test_the_oracle_imports_nothing_of_the_planner():
    for path in (HARNESS / "layout.py", HARNESS / "soak" / "checks.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("nm_cloud_setup.planning"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("nm_cloud_setup.planning")
                               for a in node.names), path
    layout = ast.parse((HARNESS / "layout.py").read_text())
    assert not [n for n in ast.walk(layout) if isinstance(n, ast.ImportFrom)
                and (n.module or "").startswith("nm_cloud_setup")]


def test_the_applied_connection_as_model_values():
    section = Family("auto", ("172.31.16.10/20", "172.31.16.11/20"), routes=(
        entry(dest=("s", "0.0.0.0"), prefix=("u", 0), next_hop=("s", "172.31.16.1"),
              metric=("u", 10), table=("u", 30400)),
        entry(dest=("s", "10.96.0.0"), prefix=("u", 16), onlink=("b", True))), rules=(
        entry(family=("i", 2), priority=("u", 30400), from_=("s", "172.31.16.11"),
              from_len=("y", 32), table=("u", 30400)),
        entry(family=("i", 2), priority=("u", 30350), table=("u", 254),
              suppress_prefixlength=("i", 0))))
    addresses, routes, rules = _model_entries(section, 4)
    assert addresses == (Address("172.31.16.10", 20), Address("172.31.16.11", 20))
    assert routes == (Route("0.0.0.0", 0, next_hop="172.31.16.1", metric=10, table=30400),
                      Route("10.96.0.0", 16, extra=(("onlink", "b", True),)))
    assert rules == (Rule(30400, 30400, "172.31.16.11", 32),
                     Rule(30350, 254, None, 0, suppress_prefixlength=0))
    assert _model_entries(Family(), 6) == ((), (), ())
