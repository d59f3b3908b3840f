"""The netlink backend's changes as messages: the bytes pyroute2 0.9 sends for the same
requests (captured with strace; netlink's integers are the host's order, little-endian
here), the same messages read by pyroute2's own parser, and the acknowledgements
matched back to their requests, by a socket that answers as the kernel does."""

from __future__ import annotations

import errno
import os
import socket
import struct

import pytest

from nm_cloud_setup.backends.netlink import batch
from nm_cloud_setup.backends.netlink.kernel import Kernel
from nm_cloud_setup.backends.netlink.requests import route_args, rule_args
from nm_cloud_setup.errors import ApplyError, BackendError
from nm_cloud_setup.model import Route, Rule

LITTLE = struct.pack("=H", 1) == b"\x01\x00"


def addr(command, address, prefixlen, index=3):
    return ("addr", command, {"index": index, "address": address, "prefixlen": prefixlen})


ROUTE = Route(dest="10.1.0.0", prefix=16, next_hop="10.0.0.1", metric=100, table=30200)
RULE = Rule(priority=30400, table=30200, from_addr="10.0.0.5", from_len=32, family=4)

# request -> (nlmsghdr type and flags, the body after the header) as pyroute2 0.9 sends it
KNOWN = [
    (addr("add", "10.0.0.5", 24), "1400 0506",
     "02 18 00 00 03000000  0800 0100 0a000005  0800 0200 0a000005"),
    (addr("del", "fd00::5", 64), "1500 0500",
     "0a 40 00 00 03000000  1400 0100 fd000000000000000000000000000005"),
    (("route", "add", route_args(ROUTE, 3)), "1800 0506",
     "02 10 00 00 fe d5 00 01 00000000  0800 0100 0a010000  0800 0400 03000000"
     "  0800 0f00 f8750000  0800 0600 64000000  0800 0500 0a000001"),
    (("route", "del", route_args(ROUTE, 3)), "1900 0500",
     "02 10 00 00 fe d5 00 00 00000000  0800 0100 0a010000  0800 0400 03000000"
     "  0800 0f00 f8750000  0800 0600 64000000  0800 0500 0a000001"),
    (("route", "add", route_args(Route(dest="0.0.0.0", prefix=0, next_hop="10.0.0.1",
                                       table=30200), 3)), "1800 0506",
     "02 00 00 00 fe d5 00 01 00000000  0800 0400 03000000  0800 0f00 f8750000"
     "  0800 0500 0a000001"),
    (("route", "add", route_args(Route(dest="10.0.0.0", prefix=24, table=30200), 3)),
     "1800 0506", "02 18 00 00 fe d5 fd 01 00000000  0800 0100 0a000000  0800 0400 03000000"
     "  0800 0f00 f8750000"),
    (("route", "add", route_args(Route(dest="10.0.0.9", prefix=32, table=30200,
                                       type="local"), 3)), "1800 0506",
     "02 20 00 00 fe d5 fe 02 00000000  0800 0100 0a000009  0800 0400 03000000"
     "  0800 0f00 f8750000"),
    (("route", "add", route_args(Route(dest="fd00::", prefix=64, next_hop="fd00::1", metric=5,
                                       table=30200), 3)), "1800 0506",
     "0a 40 00 00 fe d5 00 01 00000000  1400 0100 fd000000000000000000000000000000"
     "  0800 0400 03000000  0800 0f00 f8750000  0800 0600 05000000"
     "  1400 0500 fd000000000000000000000000000001"),
    (("rule", "add", rule_args(RULE)), "2000 0506",
     "02 00 20 00 fc 00 00 01 00000000  0800 0600 c0760000  0800 0f00 f8750000"
     "  0500 1500 d5000000  0800 0200 0a000005"),
    (("rule", "del", rule_args(RULE)), "2100 0500",
     "02 00 20 00 fc 00 00 01 00000000  0800 0600 c0760000  0800 0f00 f8750000"
     "  0500 1500 d5000000  0800 0200 0a000005"),
    (("rule", "add", rule_args(Rule(priority=30350, table=254, suppress_prefixlength=0))),
     "2000 0506", "02 00 00 00 fe 00 00 01 00000000  0800 0600 8e760000  0800 0f00 fe000000"
     "  0500 1500 d5000000  0800 0e00 00000000"),
    (("rule", "del", rule_args(Rule(priority=30400, table=30200, from_addr="fd00::5",
                                    from_len=128, family=6), proto=None)), "2100 0500",
     "0a 00 80 00 fc 00 00 01 00000000  0800 0600 c0760000  0800 0f00 f8750000"
     "  1400 0200 fd000000000000000000000000000005"),
    (("link", "set", {"index": 3, "mtu": 1400}), "1000 0500",
     "00 00 0000 03000000 00000000 00000000  0800 0400 78050000"),
    (("link", "set", {"index": 3, "state": "up", "mtu": 1300}), "1000 0500",
     "00 00 0000 03000000 01000000 01000000  0800 0400 14050000"),
    (("link", "set", {"index": 3, "state": "up"}), "1000 0500",
     "00 00 0000 03000000 01000000 01000000"),
]


@pytest.mark.parametrize("request_, head, body", KNOWN, ids=lambda k: str(k)[:40])
def test_the_bytes_pyroute2_sends(request_, head, body):
    assert LITTLE, "the known bytes are little-endian"
    body = bytes.fromhex(body)
    expected = struct.pack("=L", 16 + len(body)) + bytes.fromhex(head) + struct.pack(
        "=LL", 7, 0) + body
    assert batch.encode(*request_, seq=7) == expected


def test_pyroute2_reads_the_messages_as_sent():
    """Its parser, an independent reading of the same layouts (0.7.2 and 0.9 alike)."""
    from pyroute2.netlink.rtnl.fibmsg import fibmsg
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    msg = ifaddrmsg(batch.encode(*addr("add", "10.0.0.5", 24), seq=1))
    msg.decode()
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (2, 24, 3)
    assert msg.get_attr("IFA_LOCAL") == msg.get_attr("IFA_ADDRESS") == "10.0.0.5"
    assert msg["header"]["flags"] == 0x605
    msg = rtmsg(batch.encode("route", "add", route_args(ROUTE, 3), seq=2))
    msg.decode()
    assert (msg["dst_len"], msg["proto"], msg.get_attr("RTA_DST"), msg.get_attr("RTA_OIF"),
            msg.get_attr("RTA_TABLE"), msg.get_attr("RTA_PRIORITY"),
            msg.get_attr("RTA_GATEWAY")) == (16, 213, "10.1.0.0", 3, 30200, 100, "10.0.0.1")
    msg = fibmsg(batch.encode("rule", "del", rule_args(RULE), seq=3))
    msg.decode()
    assert (msg["src_len"], msg.get_attr("FRA_SRC"), msg.get_attr("FRA_PRIORITY"),
            msg.get_attr("FRA_TABLE"), msg["header"]["type"]) == (32, "10.0.0.5", 30400,
                                                                   30200, 33)


@pytest.mark.parametrize("request_", [
    ("addr", "replace", {"index": 3, "address": "10.0.0.5", "prefixlen": 24}),
    ("addr", "add", {"index": 3, "address": "10.0.0.5", "prefixlen": 24, "label": "x"}),
    ("route", "add", {**route_args(ROUTE, 3), "prefsrc": "10.0.0.5"}),
    ("link", "set", {"index": 3, "state": "dormant"}),
    ("link", "add", {"index": 3}),
])
def test_what_it_cannot_encode_is_an_error_not_a_different_request(request_):
    with pytest.raises(ValueError):
        batch.encode(*request_, seq=1)


class KernelSocket:
    """Answers each message sent as the kernel does: an acknowledgement (the error
    number ``answer`` gives, negated; the request's header after it), in order, each
    its own datagram; ``lose`` drops the last acknowledgements of a send."""

    def __init__(self, answer=lambda message, body: 0, lose=0, noise=False):
        self.answer = answer
        self.lose = lose
        self.noise = noise
        self.queue = []
        self.sends = []

    def send(self, data):
        self.sends.append(len(data))
        offset, acks = 0, []
        if self.noise:  # a stray answer of another sequence number
            acks.append(struct.pack("=LHHLLi", 36, 2, 0, 99, 0, -errno.EPERM) + bytes(16))
        while offset < len(data):
            length, message, flags, seq, port = struct.unpack_from("=LHHLL", data, offset)
            code = self.answer(message, data[offset + 16:offset + length])
            acks.append(struct.pack("=LHHLLi", 36, 2, 0x100, seq, 0, -code)
                        + data[offset:offset + 16])
            offset += (length + 3) & ~3
        self.queue += acks[:len(acks) - self.lose]
        return len(data)

    def recv(self, size, flags=0):
        assert flags == socket.MSG_DONTWAIT
        if not self.queue:
            raise BlockingIOError(errno.EAGAIN, "empty")
        return self.queue.pop(0)


def test_each_acknowledgement_is_its_request_s_in_chunks():
    requests = [addr("add", f"10.0.{n // 250}.{n % 250}", 32) for n in range(150)]
    sock = KernelSocket(answer=lambda message, body: errno.EEXIST if body[15] == 7 else 0,
                        noise=True)
    codes, seq = batch.send(sock, requests, 1000)
    assert seq == 1150
    assert len(sock.sends) == 3  # CHUNK to a send
    assert codes == [errno.EEXIST if n % 250 == 7 else 0 for n in range(150)]


def test_lost_acknowledgements_are_an_error_not_a_wait():
    with pytest.raises(OSError) as raised:
        batch.send(KernelSocket(lose=2), [addr("add", "10.0.0.5", 24)] * 3, 0)
    assert raised.value.errno == errno.ENOBUFS


class FakeDumper:
    def __init__(self, sock):
        self.sock = sock

    def close(self):
        pass


def kernel_answering(answer):
    kernel = Kernel()
    kernel._dumper.close()
    kernel._dumper = FakeDumper(KernelSocket(answer))
    return kernel


def test_apply_counts_what_was_made_and_names_the_first_failure():
    codes = {(batch.RTM_NEWADDR, 1): errno.EEXIST, (batch.RTM_DELADDR, 2): errno.EADDRNOTAVAIL,
             (batch.RTM_NEWADDR, 3): errno.EPERM, (batch.RTM_NEWADDR, 4): errno.ENODEV}
    kernel = kernel_answering(lambda message, body: codes.get((message, body[15]), 0))
    made, error = kernel.apply([
        (*addr("add", "10.0.0.1", 32), None),  # there already: not made, no error
        (*addr("del", "10.0.0.2", 32), None),  # gone already: the same
        (*addr("add", "10.0.0.3", 32), None),  # the first failure
        (*addr("add", "10.0.0.4", 32), "the fourth"),  # a later one: not the error
        (*addr("add", "10.0.0.5", 32), None),  # still tried, and made
    ])
    assert made == 1
    assert isinstance(error, ApplyError)
    assert str(error) == ("netlink addr add index=3 address=10.0.0.3 prefixlen=32 failed: "
                          "Operation not permitted")


@pytest.mark.parametrize("command, code, fails", [
    ("add", errno.EEXIST, False), ("del", errno.EEXIST, True),
    ("del", errno.ENOENT, False), ("del", errno.ESRCH, False), ("add", errno.ENOENT, True),
])
def test_apply_keeps_what_counts_as_nothing_to_do(command, code, fails):
    kernel = kernel_answering(lambda message, body: code)
    made, error = kernel.apply([("rule", command, rule_args(RULE), "the rule")])
    assert made == 0
    assert (str(error) if error else None) == (
        f"netlink rule {command} the rule failed: {os.strerror(code)}" if fails else None)


def test_a_failing_link_change_is_an_error():
    kernel = kernel_answering(lambda message, body: errno.EINVAL)
    assert str(kernel.apply([("link", "set", {"index": 3, "mtu": 1}, None)])[1]) == (
        "netlink link set index=3 mtu=1 failed: Invalid argument")


def test_a_failing_socket_is_a_backend_error_and_its_numbers_are_not_reused():
    kernel = kernel_answering(lambda message, body: 0)
    kernel._dumper.sock.lose = 1
    before = kernel._seq
    with pytest.raises(BackendError, match="acknowledgements missing"):
        kernel.apply([(*addr("add", "10.0.0.1", 32), None)] * 2)
    assert kernel._seq > before + 2
    kernel._dumper.sock.lose = 0
    kernel._dumper.sock.queue.clear()
    assert kernel.apply([(*addr("add", "10.0.0.1", 32), None)]) == (1, None)
