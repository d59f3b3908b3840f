"""The guard's view of the kernel's changes (``kernel.Events``, read with the standard
library) against pyroute2's parsing of the same notifications, the oracle: a network
namespace of its own, a veth pair, addresses and routes of both families added and
removed with ``ip``."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

import pytest

from nm_cloud_setup.backends.netlink.kernel import Events, entered
from tests.support.pyroute2_entries import entry as pyroute2_entry
from tests.support.requirements import require_root

pytestmark = pytest.mark.root

GROUPS = 0x10 | 0x40 | 0x100 | 0x400


def ip(netns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True)


@pytest.fixture
def netns():
    require_root(with_nm=False)
    name = f"ncs-events-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ip(name, "link", "add", "ev0", "type", "veth", "peer", "name", "ev1")
        ip(name, "link", "set", "ev0", "up")
        ip(name, "link", "set", "ev1", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_events_are_read_as_pyroute2_reads_them(netns):
    pyroute2 = pytest.importorskip("pyroute2")
    path = f"/run/netns/{netns}"
    ours, theirs = [], []
    lock = threading.Lock()

    def handler(event, entry, port, at, kernel):
        with lock:
            ours.append((event, entry, port))

    with entered(path):
        oracle = pyroute2.IPRoute()
    oracle.bind(groups=GROUPS)
    events = Events(path, handler)
    try:
        ip(netns, "addr", "add", "10.9.0.5/24", "dev", "ev0")
        ip(netns, "addr", "add", "10.9.0.6/24", "dev", "ev0", "label", "ev0:vip")
        ip(netns, "-6", "addr", "add", "2001:db8:9::5/64", "dev", "ev0", "nodad")
        ip(netns, "route", "add", "10.99.0.0/16", "via", "10.9.0.1", "dev", "ev0",
           "table", "30400", "metric", "7")
        ip(netns, "-6", "route", "add", "2001:db8:99::/48", "dev", "ev0", "table", "30400")
        ip(netns, "route", "del", "10.99.0.0/16", "table", "30400")
        ip(netns, "addr", "del", "10.9.0.6/24", "dev", "ev0")
        ip(netns, "-6", "addr", "del", "2001:db8:9::5/64", "dev", "ev0")
        ip(netns, "route", "add", "10.250.0.0/16", "dev", "ev0", "table", "30401")  # the end
        while not any(entry.key[0] == 30401 for _, entry, _ in theirs):
            for msg in oracle.get():
                entry = pyroute2_entry(msg)
                if entry is not None:
                    theirs.append((msg["event"], entry, msg["header"]["pid"]))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with lock:
                if any(entry.key[0] == 30401 for _, entry, _ in ours):
                    break
            time.sleep(0.01)
    finally:
        events.stop()
        oracle.close()
    with lock:
        assert ours == theirs
    changes = [(event, entry.kind, entry.key) for event, entry, _ in ours]
    for change in [("RTM_NEWADDR", "addr", ("10.9.0.6", 24)),
                   ("RTM_DELADDR", "addr", ("10.9.0.6", 24)),
                   ("RTM_NEWADDR", "addr", ("2001:db8:9::5", 64)),
                   ("RTM_DELADDR", "addr", ("2001:db8:9::5", 64)),
                   ("RTM_NEWROUTE", "route", (30400, "10.99.0.0", 16, 7)),
                   ("RTM_DELROUTE", "route", (30400, "10.99.0.0", 16, 7)),
                   ("RTM_NEWROUTE", "route", (30400, "2001:db8:99::", 48, 1024))]:
        assert change in changes
    label = next(entry for event, entry, _ in ours if entry.key == ("10.9.0.6", 24))
    assert dict(label.args)["label"] == "ev0:vip"
