"""Changing the kernel's addresses, routes, rules and links over a plain netlink socket,
many requests to a ``send``.

A request is pyroute2's keyword arguments (``requests.py`` builds them), encoded here
with the standard library's ``struct`` into the message pyroute2 0.9 sends for them
(byte for byte but the sequence number and port; 0.7.2 differs only where the kernel
reads no difference: a route's header table, a default route's empty destination):
``NLM_F_REQUEST | NLM_F_ACK``, with ``NLM_F_CREATE | NLM_F_EXCL`` for an addition.
The kernel handles the messages of one ``send`` in order, before ``send`` returns,
and acknowledges each; the acknowledgements are read back and matched to their
requests by sequence number: each request's error number, 0 when it was done.  A
failed request does not stop the ones after it in the same batch (netlink has no
transactions): callers send what must not follow a failure as a batch of its own.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NEW = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
DEL = NLM_F_REQUEST | NLM_F_ACK
NLMSG_ERROR = 2
RTM_NEWLINK = 16
RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTM_NEWRULE, RTM_DELRULE = 32, 33
IFLA_MTU = 4
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
FRA_SRC, FRA_PRIORITY, FRA_SUPPRESS_PREFIXLEN, FRA_TABLE, FRA_PROTOCOL = 2, 6, 14, 15, 21
RT_TABLE_COMPAT, RT_TABLE_MAIN = 252, 254
RTN_UNICAST = 1
FR_ACT_TO_TBL = 1
IFF_UP = 0x1
# Requests per send: their acknowledgements (one socket buffer each, about 1 KiB with
# the kernel's overhead) must fit the socket's receive buffer (208 KiB by default), or
# the kernel drops them.
CHUNK = 64

_HEADER = struct.Struct("=LHHLL")  # nlmsghdr: length, type, flags, sequence, port
_ATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_IFINFO = struct.Struct("=BxHiII")  # family, device type, index, flags, change mask
_IFADDR = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # also fib_rule_hdr: the same layout

Request = Tuple[str, str, Mapping[str, Any]]  # kind ("addr"...), command ("add"...), args


def _attr(kind: int, value: bytes) -> bytes:
    length = _ATTR.size + len(value)
    return _ATTR.pack(length, kind) + value + b"\0" * (-length % 4)


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, _U32.pack(value))


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _known(kind: str, args: Mapping[str, Any], names: Tuple[str, ...]) -> None:
    unknown = set(args) - set(names)
    if unknown:
        raise ValueError(f"cannot encode {kind} {', '.join(sorted(unknown))}")


def _addr(command: str, args: Mapping[str, Any]) -> Tuple[int, int, bytes]:
    _known("addr", args, ("index", "address", "prefixlen"))
    family = _family(args["address"])
    packed = socket.inet_pton(family, args["address"])
    body = _IFADDR.pack(family, args["prefixlen"], 0, 0, args["index"])
    body += _attr(IFA_ADDRESS, packed)
    if family == socket.AF_INET:
        body += _attr(IFA_LOCAL, packed)
    message, flags = (RTM_NEWADDR, NEW) if command == "add" else (RTM_DELADDR, DEL)
    return message, flags, body


def _route(command: str, args: Mapping[str, Any]) -> Tuple[int, int, bytes]:
    _known("route", args, ("family", "dst", "oif", "proto", "table", "priority", "gateway",
                           "scope", "type"))
    family = args["family"]
    dest, dst_len = args["dst"].split("/")
    table = args["table"]
    add = command == "add"
    body = _RTMSG.pack(family, int(dst_len), 0, 0, table if table < 256 else RT_TABLE_MAIN,
                       args["proto"], args.get("scope", 0),
                       args.get("type", RTN_UNICAST if add else 0), 0)
    if int(dst_len):
        body += _attr(RTA_DST, socket.inet_pton(family, dest))
    body += _u32(RTA_OIF, args["oif"]) + _u32(RTA_TABLE, table)
    if args.get("priority") is not None:
        body += _u32(RTA_PRIORITY, args["priority"])
    if args.get("gateway"):
        body += _attr(RTA_GATEWAY, socket.inet_pton(family, args["gateway"]))
    message, flags = (RTM_NEWROUTE, NEW) if add else (RTM_DELROUTE, DEL)
    return message, flags, body


def _rule(command: str, args: Mapping[str, Any]) -> Tuple[int, int, bytes]:
    _known("rule", args, ("family", "priority", "table", "protocol", "src", "src_len",
                          "suppress_prefixlen"))
    family = args["family"]
    table = args["table"]
    body = _RTMSG.pack(family, 0, args.get("src_len", 0), 0,
                       table if table < 256 else RT_TABLE_COMPAT, 0, 0, FR_ACT_TO_TBL, 0)
    body += _u32(FRA_PRIORITY, args["priority"]) + _u32(FRA_TABLE, table)
    if args.get("protocol") is not None:
        body += _attr(FRA_PROTOCOL, bytes((args["protocol"],)))
    if args.get("src"):
        body += _attr(FRA_SRC, socket.inet_pton(family, args["src"]))
    if args.get("suppress_prefixlen") is not None:
        body += _u32(FRA_SUPPRESS_PREFIXLEN, args["suppress_prefixlen"])
    message, flags = (RTM_NEWRULE, NEW) if command == "add" else (RTM_DELRULE, DEL)
    return message, flags, body


def _link(command: str, args: Mapping[str, Any]) -> Tuple[int, int, bytes]:
    _known("link", args, ("index", "mtu", "state"))
    state = args.get("state")
    if command != "set" or state not in (None, "up", "down"):
        raise ValueError(f"cannot encode link {command} state {state}")
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, args["index"], IFF_UP if state == "up" else 0,
                        0 if state is None else IFF_UP)
    if args.get("mtu") is not None:
        body += _u32(IFLA_MTU, args["mtu"])
    return RTM_NEWLINK, DEL, body


_ENCODERS: Dict[str, Callable[[str, Mapping[str, Any]], Tuple[int, int, bytes]]] = {
    "addr": _addr, "route": _route, "rule": _rule, "link": _link}


def encode(kind: str, command: str, args: Mapping[str, Any], seq: int) -> bytes:
    """The netlink message of one request, with sequence number ``seq`` (port 0: the
    kernel's)."""
    if kind != "link" and command not in ("add", "del"):
        raise ValueError(f"cannot encode {kind} {command}")
    message, flags, body = _ENCODERS[kind](command, args)
    return _HEADER.pack(_HEADER.size + len(body), message, flags, seq, 0) + body


def send(sock: Any, requests: Sequence[Request], seq: int) -> Tuple[List[int], int]:
    """Make ``requests`` in order over ``sock`` (a bound ``NETLINK_ROUTE`` socket that
    nothing else reads), ``CHUNK`` to a send, their sequence numbers following ``seq``:
    each request's error number (0: done), and the last sequence number used.  OSError
    when the socket fails, or when the kernel's acknowledgements are lost."""
    codes: List[int] = []
    for start in range(0, len(requests), CHUNK):
        chunk = requests[start:start + CHUNK]
        first = seq + 1
        sock.send(b"".join(encode(kind, command, args, first + number)
                           for number, (kind, command, args) in enumerate(chunk)))
        seq += len(chunk)
        codes += acknowledgements(sock, first, len(chunk))
    return codes, seq


def acknowledgements(sock: Any, first: int, count: int) -> List[int]:
    """The error numbers of the ``count`` requests numbered from ``first``, from their
    acknowledgements (queued before ``send`` returned: none missing is waited for)."""
    codes: List[Any] = [None] * count
    left = count
    while left:
        try:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            raise OSError(errno.ENOBUFS, f"{left} of {count} netlink acknowledgements "
                          "missing") from None
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, answer, _, seq, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                break
            number = seq - first
            if answer == NLMSG_ERROR and 0 <= number < count and codes[number] is None:
                codes[number] = -_I32.unpack_from(data, offset + _HEADER.size)[0]
                left -= 1
            offset += (length + 3) & ~3
    return codes
