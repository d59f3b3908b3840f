"""Drift you can alert on: ``status --check``'s exit status and the node_exporter textfile,
read with Prometheus' own text-format parser, on both backends."""

from __future__ import annotations

import copy
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.scenarios import set_scenario

pytestmark = pytest.mark.root


def metrics(directory):
    text = (directory / "nm-cloud-setup.prom").read_text()
    return {(s.name, s.labels.get("interface"), s.labels.get("family")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_check_and_metrics_follow_drift_and_its_repair(on_each_backend, tmp_path):
    backend, sandbox, emulator, run = on_each_backend
    assert run("status", "--check").returncode == 1  # nothing applied yet
    assert not (tmp_path / "nm-cloud-setup.prom").exists()  # status writes no metrics

    before = emulator.state.requests
    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    found = metrics(tmp_path)
    assert found[("nm_cloud_setup_last_run_success", None, None)] == 1
    assert found[("nm_cloud_setup_last_run_metadata_requests", None, None)] == \
        emulator.state.requests - before
    assert found[("nm_cloud_setup_info", None, None)] == 1
    for ifname in ("eth1", "eth2"):
        assert found[("nm_cloud_setup_nic_in_sync", ifname, None)] == 1
        assert found[("nm_cloud_setup_nic_changed", ifname, None)] == 1
        assert found[("nm_cloud_setup_nic_addresses", ifname, "ipv4")] == 3
        assert found[("nm_cloud_setup_nic_rules", ifname, "ipv4")] == 7  # 3+3 and 30350
    check = run("status", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1] == "check: in sync"

    # The cloud adds an address: the metadata and the applied state differ.
    scenario = copy.deepcopy(emulator.state.scenario)
    scenario["interfaces"][1]["addresses"].append("172.31.32.20")
    set_scenario(emulator, scenario)
    check = run("status", "--check")
    assert check.returncode == 1
    assert check.stdout.splitlines()[-1] == "check: differs: eth2"

    assert run().returncode == 0
    found = metrics(tmp_path)
    assert found[("nm_cloud_setup_nic_changed", "eth1", None)] == 0
    assert found[("nm_cloud_setup_nic_changed", "eth2", None)] == 1
    assert found[("nm_cloud_setup_nic_addresses", "eth2", "ipv4")] == 4
    assert run("status", "--check").returncode == 0

    if backend == "netlink":  # another program takes an address away behind its back
        subprocess.run(["ip", "-n", sandbox.host_ns, "addr", "del", "172.31.32.20/20",
                        "dev", "eth2"], check=True)
        assert run("status", "--check").returncode == 1

    # The metadata service fails: nobody can tell.
    with emulator.state.lock:
        emulator.state.rules = [{"match": "/", "status": 500}]
    check = run("status", "--check")
    assert check.returncode == 2
    assert check.stdout.splitlines()[-1].startswith("check: cannot tell")
