"""Reading the kernel's links, addresses, routes and rules over a plain netlink socket,
and following its address and route changes (``Listener``).

What a run that changes nothing reads, with the standard library's ``socket`` and
``struct`` only: no pyroute2 import (about 90 ms of CPU) and only the attributes
the model needs decoded (pyroute2 decodes every attribute of every message in
Python, most of a large instance's run).  Route dumps ask the kernel for one
protocol (``NETLINK_GET_STRICT_CHK``, Linux 4.20 and later); an older kernel sends
all, and the others are skipped here by their header byte.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Dict, Iterator, Optional, Tuple

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_GETLINK = 18
RTM_GETADDR = 22
RTM_GETROUTE = 26
RTM_GETRULE = 34
RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 20, 21, 24, 25
EVENTS = {RTM_NEWADDR: "RTM_NEWADDR", RTM_DELADDR: "RTM_DELADDR",
          RTM_NEWROUTE: "RTM_NEWROUTE", RTM_DELROUTE: "RTM_DELROUTE"}
SO_RCVBUFFORCE = 33
LISTEN_BUFFER = 8 << 20  # a Reapply of a large NIC is thousands of events in a burst
NLA_TYPE_MASK = 0x3FFF

_HEADER = struct.Struct("=LHHLL")  # nlmsghdr: length, type, flags, sequence, port
_ATTR = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")  # family, device type, index, flags, change mask
_IFADDR = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # also fib_rule_hdr: the same layout
_U32 = struct.Struct("=I")

Attrs = Dict[int, bytes]


def attrs(payload: bytes, start: int) -> Attrs:
    """The attributes of a message (type -> value), from ``start``."""
    found: Attrs = {}
    offset = start
    while offset + 4 <= len(payload):
        length, kind = _ATTR.unpack_from(payload, offset)
        if length < 4:
            break
        found[kind & NLA_TYPE_MASK] = payload[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found


def u32(value: Optional[bytes]) -> Optional[int]:
    return _U32.unpack(value[:4])[0] if value is not None and len(value) >= 4 else None


def text(value: Optional[bytes]) -> Optional[str]:
    return value.split(b"\0", 1)[0].decode() if value is not None else None


def ip(family: int, value: Optional[bytes]) -> Optional[str]:
    return socket.inet_ntop(family, value) if value is not None else None


def hwaddr(value: Optional[bytes]) -> Optional[str]:
    return ":".join(f"{byte:02x}" for byte in value) if value else None


def address(payload: bytes) -> Tuple[Tuple[int, ...], Attrs]:
    """An address message: ((family, prefix length, flags, scope, link index), attributes)."""
    return _IFADDR.unpack_from(payload), attrs(payload, _IFADDR.size)


def route(payload: bytes) -> Tuple[Tuple[int, ...], Attrs]:
    """A route message: ((family, dst_len, src_len, tos, table, protocol, scope, type,
    flags), attributes)."""
    return _RTMSG.unpack_from(payload), attrs(payload, _RTMSG.size)


class Dumper:
    """One netlink socket for dumps, opened in the caller's network namespace."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        try:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        except OSError:  # before Linux 4.20: unfiltered dumps
            pass
        self._seq = 0

    @property
    def sock(self) -> socket.socket:
        """The socket, for changes (``batch.py``): it is in the right namespace."""
        return self._sock

    def close(self) -> None:
        self._sock.close()

    def messages(self, kind: int, body: bytes, dump: bool = True) -> Iterator[bytes]:
        """Each answer's payload (header stripped) to one request."""
        self._seq += 1
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
        self._sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags, self._seq, 0) + body)
        while True:
            data = self._sock.recv(1 << 20)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, answer, _, seq, _ = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size:offset + length]
                offset += (length + 3) & ~3
                if seq != self._seq:
                    continue
                if answer == NLMSG_DONE:
                    return
                if answer == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return  # an acknowledgement
                yield payload
                if not dump:
                    return

    def links(self, index: int = 0) -> Iterator[Tuple[Tuple[int, int, int], Attrs]]:
        """((device type, index, flags), attributes) of every link, or of link ``index``."""
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0)
        try:
            for payload in self.messages(RTM_GETLINK, body, dump=not index):
                _, kind, number, flags, _ = _IFINFO.unpack_from(payload)
                yield (kind, number, flags), attrs(payload, _IFINFO.size)
        except OSError as err:
            if not index or err.errno != errno.ENODEV:
                raise

    def addresses(self, family: int) -> Iterator[Tuple[Tuple[int, ...], Attrs]]:
        """((family, prefix length, flags, scope, link index), attributes) of every
        address of ``family``."""
        for payload in self.messages(RTM_GETADDR, _IFADDR.pack(family, 0, 0, 0, 0)):
            yield address(payload)

    def routes(self, family: int, proto: int = 0) -> Iterator[Tuple[Tuple[int, ...], Attrs]]:
        """((family, dst_len, src_len, tos, table, protocol, scope, type, flags),
        attributes) of the routes of protocol ``proto`` (0: every route)."""
        body = _RTMSG.pack(family, 0, 0, 0, 0, proto, 0, 0, 0)
        for payload in self.messages(RTM_GETROUTE, body):
            if not proto or payload[5] == proto:  # the protocol byte of struct rtmsg
                yield route(payload)

    def rules(self, family: int) -> Iterator[Tuple[Tuple[int, int], Attrs]]:
        """((src_len, table), attributes) of every rule of ``family``."""
        for payload in self.messages(RTM_GETRULE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)):
            _, _, src_len, _, table, _, _, _, _ = _RTMSG.unpack_from(payload)
            yield (src_len, table), attrs(payload, _RTMSG.size)


class Listener:
    """The kernel's notifications of the rtnetlink ``groups``, on a socket of its own
    opened in the caller's network namespace."""

    def __init__(self, groups: int) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:  # as root, beyond net.core.rmem_max
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, LISTEN_BUFFER)
        except OSError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, LISTEN_BUFFER)
        self._sock.bind((0, groups))

    def close(self) -> None:
        self._sock.close()

    def messages(self) -> Iterator[Tuple[int, int, bytes]]:
        """(message type, the asker's netlink port, payload) of each notification the
        next read brings (blocks until there is one).  ``OSError`` ENOBUFS when the
        kernel dropped some (the socket's buffer overran)."""
        data = self._sock.recv(1 << 20)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, _, port = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                return
            yield kind, port, data[offset + _HEADER.size:offset + length]
            offset += (length + 3) & ~3
