"""Helpers shared by the emulated cloud APIs."""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import time
from typing import Any, Dict, List, Optional, Tuple

Answer = Tuple[int, Dict[str, str], bytes]


def text(body: str, status: int = 200) -> Answer:
    return status, {"Content-Type": "text/plain"}, body.encode()


def as_json(value: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


NOT_FOUND = text("Not Found\n", 404)


class UpstreamPaths:
    """The requests upstream's nm-cloud-setup makes of one API, as (method, regex of
    path and query): in upstream-only mode nothing else is served."""

    def __init__(self, *specs: Tuple[str, str]) -> None:
        self.specs = [(method, re.compile(pattern)) for method, pattern in specs]

    def __contains__(self, request: Tuple[str, str]) -> bool:
        method, path = request
        return any(method == m and rx.fullmatch(path) for m, rx in self.specs)


class Tokens:
    """Session tokens as EC2's IMDSv2 and Aliyun's hardened mode issue and check them."""

    def __init__(self, ttl_header: str, token_header: str) -> None:
        self.ttl_header = ttl_header
        self.token_header = token_header
        self.valid: Dict[str, float] = {}

    def issue(self, headers) -> Answer:
        """Answer the token PUT: a token for the asked TTL (1..21600 s), else 400."""
        ttl = headers.get(self.ttl_header, "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return text("Bad Request\n", 400)
        token = secrets.token_urlsafe(32)
        self.valid[token] = time.monotonic() + int(ttl)
        return text(token)

    def refused(self, headers, mode: str) -> bool:
        """True when a GET must get 401: a token sent that is unknown or expired, or
        none sent where ``mode`` is ``required``."""
        token = headers.get(self.token_header)
        if mode == "unsupported" or (token is None and mode != "required"):
            return False
        return self.valid.get(token or "", 0) < time.monotonic()


def walk(tree: Any, segments: List[str], dir_suffix: str = "/") -> Optional[str]:
    """A JSON tree as a text walk: dicts list their keys (containers with a "/"),
    lists their indexes, leaves their value; None for a path that is not there."""
    node = tree
    for segment in segments:
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            return None
    if isinstance(node, dict):
        return "".join(f"{k}{dir_suffix if isinstance(v, (dict, list)) else ''}\n"
                       for k, v in node.items())
    if isinstance(node, list):
        if node and all(not isinstance(v, (dict, list)) for v in node):
            return "".join(f"{i}\n" for i in range(len(node)))
        return "".join(f"{i}/\n" for i in range(len(node)))
    return "" if node is None else str(node)


def segments(path: str, prefix: str) -> List[str]:
    rest = path.split("?", 1)[0][len(prefix):]
    return [part for part in rest.split("/") if part]


def gateway(iface: Dict[str, Any]) -> str:
    return iface.get("gateway") or str(ipaddress.ip_network(iface["subnet"])[1])


def netmask(iface: Dict[str, Any]) -> str:
    return str(ipaddress.ip_network(iface["subnet"]).netmask)


def query(path: str) -> Dict[str, str]:
    if "?" not in path:
        return {}
    pairs = (part.partition("=") for part in path.split("?", 1)[1].split("&"))
    return {key: value for key, _, value in pairs}
