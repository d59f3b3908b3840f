"""Two hosts, one PostgreSQL: each host's service serves the VMs on its own bridge, any
host's API writes (issue 22, item 5; docs/metadata-service.md, "Several hosts").

Two labs (two hypervisor namespaces, each with its bridge and 169.254.169.254) and a
PostgreSQL cluster of the test's own (Debian's package, ``harness/postgres.py``),
reached by both services through its unix socket.  A write on one host is served by
the other at once; PostgreSQL stopped: metadata keeps answering from what was last
read, writes get 503 and store nothing; started again: both follow.
"""

from __future__ import annotations

import time

import pytest

from harness.lab import Lab
from harness.postgres import Postgres, bin_dir
from harness.sandbox import Nic
from tests.support.requirements import REQUIRE_ALL, require_root

pytestmark = pytest.mark.root
HOSTNAME = "/latest/meta-data/hostname"


def vm(n: int, subnet: str, hostname: str) -> dict:
    return {"hostname": hostname, "interfaces": [
        {"mac": f"02:00:00:00:0{n}:01", "subnet": f"{subnet}.0/24", "addresses": [f"{subnet}.11"]}]}


@pytest.fixture(scope="module")
def hosts():
    require_root(with_nm=False)
    if bin_dir() is None:
        message = "needs PostgreSQL (scripts/setup.sh installs Debian's postgresql)"
        pytest.fail(message) if REQUIRE_ALL else pytest.skip(message)
    with Postgres() as pg, Lab(subnets=("10.50.0.0/24",)) as one, \
            Lab(subnets=("10.60.0.0/24",)) as two:
        dsn = pg.create_database("fleet")
        for lab in (one, two):
            lab.start_service(db=dsn)
        one.vm = one.add_vm([Nic("eth1", "02:00:00:00:01:01", "10.50.0.11", "10.50.0.0/24")])
        two.vm = two.add_vm([Nic("eth1", "02:00:00:00:02:01", "10.60.0.11", "10.60.0.0/24")])
        yield pg, one, two
        for lab in (one, two):
            lab.stop_service()
            assert "Traceback" not in lab.service_log()


def served(lab: Lab, expected: tuple, within: float = 1.0) -> float:
    """How long until ``lab``'s VM reads ``expected`` for its hostname (at most ``within``)."""
    started = time.monotonic()
    while True:
        got = lab.vm.fetch("GET", HOSTNAME)
        if got == expected:
            return time.monotonic() - started
        assert time.monotonic() - started < within, got
        time.sleep(0.01)


def test_a_write_on_one_host_is_served_by_the_other_at_once(hosts):
    _, one, two = hosts
    assert one.request("PUT", "/v1/vms/b1", vm(2, "10.60.0", "b1"))[0] == 201
    assert served(two, (200, b"b1")) < 1.0
    assert two.request("PUT", "/v1/vms/a1", vm(1, "10.50.0", "a1"))[0] == 201
    assert served(one, (200, b"a1")) < 1.0
    assert one.request("PATCH", "/v1/vms/b1", {"hostname": "b1-renamed"})[0] == 200
    assert served(two, (200, b"b1-renamed")) < 1.0
    # Both hosts check uniqueness in the one database: b1's MAC is taken, on either.
    taken = vm(2, "10.50.0", "c1") | {"interfaces": [
        {"mac": "02:00:00:00:02:01", "subnet": "10.50.0.0/24", "addresses": ["10.50.0.12"]}]}
    status, answer = one.request("PUT", "/v1/vms/c1", taken)
    assert (status, answer["field"]) == (409, "interfaces[0].mac")


def test_postgresql_stopped_metadata_answers_writes_get_503(hosts):
    pg, one, two = hosts
    pg.stop()
    try:
        for lab, expected in ((one, b"a1"), (two, b"b1-renamed")):
            assert lab.vm.fetch("GET", HOSTNAME) == (200, expected)  # from what was read
        status, answer = one.request("PATCH", "/v1/vms/b1", {"hostname": "lost"})
        assert status == 503 and "PostgreSQL is unavailable" in answer["error"]
        assert two.request("GET", "/v1/vms")[0] == 503
        assert two.vm.fetch("GET", HOSTNAME) == (200, b"b1-renamed")
    finally:
        pg.start()
    # Back: the first request works (a stale connection is replaced), nothing half-written.
    assert one.request("GET", "/v1/vms/b1")[1]["hostname"] == "b1-renamed"
    assert two.request("PATCH", "/v1/vms/b1", {"hostname": "b1-again"})[0] == 200
    assert served(two, (200, b"b1-again")) < 1.0
    assert one.request("PATCH", "/v1/vms/a1", {"hostname": "a1-again"})[0] == 200
    assert served(one, (200, b"a1-again")) < 1.0
    deadline = time.monotonic() + 6  # the follower retries at most 5 s apart
    while "is reachable again" not in one.service_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = one.service_log()
    assert "is unavailable" in log and "is reachable again" in log, log


def test_a_restarted_postgresql_and_a_delete(hosts):
    pg, one, two = hosts
    pg.restart()
    assert one.request("DELETE", "/v1/vms/b1")[0] == 204  # on the first try
    assert served(two, (404, b"Not Found\n"), within=6.0) < 6.0  # the follower reconnects
    assert two.request("PUT", "/v1/vms/b1", vm(2, "10.60.0", "b1"))[0] == 201
    assert served(two, (200, b"b1")) < 1.0
