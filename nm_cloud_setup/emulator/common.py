"""Helpers shared by the emulated cloud APIs: upstream's paths, text walks, queries.

The documents themselves, the answers and the tokens live in ``shapes``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from nm_cloud_setup.shapes.common import NOT_FOUND, Answer, Tokens, as_json, text  # noqa: F401
from nm_cloud_setup.shapes.instance import gateway, gateway6, netmask, subnet6  # noqa: F401


class UpstreamPaths:
    """The requests upstream's nm-cloud-setup makes of one API, as (method, regex of
    path and query): in upstream-only mode nothing else is served."""

    def __init__(self, *specs: Tuple[str, str]) -> None:
        self.specs = [(method, re.compile(pattern)) for method, pattern in specs]

    def __contains__(self, request: Tuple[str, str]) -> bool:
        method, path = request
        return any(method == m and rx.fullmatch(path) for m, rx in self.specs)


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


def query(path: str) -> Dict[str, str]:
    if "?" not in path:
        return {}
    pairs = (part.partition("=") for part in path.split("?", 1)[1].split("&"))
    return {key: value for key, _, value in pairs}
