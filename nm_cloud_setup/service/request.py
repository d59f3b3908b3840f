"""A request as the service's handlers see it, whatever HTTP server carried it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Tuple

from nm_cloud_setup.shapes.common import Answer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    source: str  # the peer's address; "" on a unix socket


App = Callable[[Request], Answer]


def split_address(address: str) -> Tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{address!r} is not HOST:PORT (or unix:PATH)")
    return host.strip("[]"), int(port)
