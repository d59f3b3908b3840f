"""A request as the service's handlers see it, whatever HTTP server carried it, and what
an answer may ask of the server beyond its status, headers and body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Tuple

from nm_cloud_setup.shapes.common import Answer

# An answer carrying this header (never sent) leaves with that hop limit (IP_TTL,
# IPV6_UNICAST_HOPS): the IMDSv2 token's answer, as EC2 sends it.
HOP_LIMIT = "X-Nm-Cloud-Metadata-Hop-Limit"
# An answer with these headers closes its connection (nothing more is read from it).
CLOSE = {"Connection": "close"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    source: str  # the peer's address; "" on a unix socket
    who: str = ""  # the peer as an audit line names it: "uid 0 pid 42", "10.0.0.9:5170"


App = Callable[[Request], Answer]


def split_address(address: str) -> Tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or not host or len(port) > 5:
        raise ValueError(f"{address!r} is not HOST:PORT (or unix:PATH)")
    return host.strip("[]"), int(port)
