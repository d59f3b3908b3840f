"""A VM's metadata requests: which VM asks (its source address), tokens, the EC2 and
OpenStack paths.

A source that belongs to no VM gets 404 for every path.  IMDSv2 tokens are bound
to the VM that asked for them; another VM's token is refused (401).  A token PUT
carrying ``X-Forwarded-For`` is refused (403), as EC2 does: a proxy on a VM must
not fetch tokens for others.  ``tokens``: ``optional`` (GETs with or without a
token: cloud-init sends none off AWS) or ``required`` (IMDSv2 only).
"""

from __future__ import annotations

from typing import Mapping

from nm_cloud_setup.service.store import Store
from nm_cloud_setup.shapes import ec2, openstack
from nm_cloud_setup.shapes.common import FORBIDDEN, NOT_FOUND, UNAUTHORIZED, Answer, Tokens, text

TOKEN_MODES = ("optional", "required")


class MetadataService:
    def __init__(self, store: Store, tokens: str = "optional") -> None:
        if tokens not in TOKEN_MODES:
            raise ValueError(f"tokens must be one of {', '.join(TOKEN_MODES)}")
        self.store = store
        self.mode = tokens
        self.tokens = Tokens(ec2.TTL_HEADER, ec2.TOKEN_HEADER)

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               source: str) -> Answer:
        entry = self.store.by_source(source)
        if entry is None:
            return NOT_FOUND
        if path == ec2.TOKEN_PATH:
            if method != "PUT":
                return text("", 405)
            if headers.get("X-Forwarded-For") is not None:
                return FORBIDDEN
            return self.tokens.issue(headers, owner=entry.name)
        if method not in ("GET", "HEAD"):
            return text("", 405)
        if path == "/openstack" or path.startswith("/openstack/"):
            return openstack.get(entry.instance, path) or NOT_FOUND
        if self.tokens.refused(headers, self.mode, owner=entry.name):
            return UNAUTHORIZED
        return ec2.get(entry.instance, path) or NOT_FOUND
