"""A VM's metadata requests: which VM asks (its source address), its request budget,
tokens, the EC2 and OpenStack paths.

A source that belongs to no VM gets 404 for every path, and its connection is closed.
A VM over its request budget (``guard``) gets 429 with ``Retry-After``; all sources
that are no VM's share one budget.  Metadata
requests carry no body: one announcing more than ``Limits.max_body`` bytes (or a
chunked one) gets 413 and its connection is closed, the body unread.

IMDSv2 tokens (``tokens``) are the asking VM's own: another VM's token, or one of
the same VM before it was created anew, gets 401.  A token PUT that went through a
proxy (``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP``) gets 403, as EC2 refuses
it, and so does a GET carrying both a token and such a header (a token is for the
VM itself, never for what a proxy on it relays).  The token's answer leaves with a
hop limit (``IP_TTL``/``IPV6_UNICAST_HOPS``, default 1, as EC2's): a container
behind NAT in the VM, one hop further, never receives it.  ``tokens``:
``optional`` serves every path with or without a token (cloud-init sends none off
AWS); ``required`` serves none without one, OpenStack's paths included.
"""

from __future__ import annotations

from typing import Mapping, Optional

from nm_cloud_setup.service import tokens as imds_tokens
from nm_cloud_setup.service.guard import STRANGER, Guard
from nm_cloud_setup.service.logs import printable, report
from nm_cloud_setup.service.request import CLOSE, HOP_LIMIT
from nm_cloud_setup.service.store import Store
from nm_cloud_setup.shapes import ec2, openstack
from nm_cloud_setup.shapes.common import FORBIDDEN, NOT_FOUND, UNAUTHORIZED, Answer, text

TOKEN_MODES = ("optional", "required")
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def closing(answer: Answer) -> Answer:
    status, headers, body = answer
    return status, {**headers, **CLOSE}, body


class MetadataService:
    def __init__(self, store: Store, tokens: str = "optional", guard: Optional[Guard] = None,
                 hop_limit: int = 1, max_body: int = 1024) -> None:
        if tokens not in TOKEN_MODES:
            raise ValueError(f"tokens must be one of {', '.join(TOKEN_MODES)}")
        if not 1 <= hop_limit <= 255:
            raise ValueError("the token hop limit is 1..255")
        self.store = store
        self.mode = tokens
        self.guard = guard
        self.hop_limit = hop_limit
        self.max_body = max_body

    def describe(self) -> str:
        """What the token mode protects, as the start-up line says it."""
        if self.mode == "required":
            return ("tokens required on every path, EC2's and OpenStack's (clients that "
                    "send none, as cloud-init off AWS and its OpenStack reader, cannot read)")
        return ("tokens optional: every path answers with or without a token (IMDSv1 too, "
                "as cloud-init off AWS needs)")

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               source: str) -> Answer:
        entry = self.store.by_source(source)
        if self.guard is not None:  # every source that is no VM's shares one budget
            wait = self.guard.wait(entry.name if entry is not None else STRANGER)
            if wait:
                who = f"VM {entry.name}" if entry is not None else "a stranger"
                report(entry.name if entry is not None else "stranger", "rate",
                       "%s (%s): over its request budget: 429", who, source)
                answer = 429, {"Content-Type": "text/plain",
                               "Retry-After": Guard.retry_after(wait)}, b"Too Many Requests\n"
                return answer if entry is not None else closing(answer)
        if entry is None:
            return closing(NOT_FOUND)
        if self._has_body(headers):
            report(entry.name, "body", "VM %s (%s): a request with a body (%s bytes): 413",
                   entry.name, source, printable(headers.get("Content-Length", "chunked"), 20))
            return closing(text("Request Entity Too Large\n", 413))
        proxied = any(name in headers for name in PROXY_HEADERS)
        if path == ec2.TOKEN_PATH:
            return self._token(method, headers, entry, source, proxied)
        if method not in ("GET", "HEAD"):
            return text("", 405)
        token = headers.get(ec2.TOKEN_HEADER)
        if token is not None and proxied:
            report(entry.name, "proxy", "VM %s (%s): a token relayed by a proxy: 403",
                   entry.name, source)
            return FORBIDDEN
        if token is not None and not imds_tokens.valid(entry.token_key, token):
            return UNAUTHORIZED
        if token is None and self.mode == "required":
            return UNAUTHORIZED
        if path == "/openstack" or path.startswith("/openstack/"):
            return openstack.get(entry.instance, path) or NOT_FOUND
        return ec2.get(entry.instance, path) or NOT_FOUND

    def _has_body(self, headers: Mapping[str, str]) -> bool:
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            return True
        length = headers.get("Content-Length", "0")
        return not (length.isascii() and length.isdigit() and len(length) < 10
                    and int(length) <= self.max_body)

    def _token(self, method: str, headers: Mapping[str, str], entry, source: str,
               proxied: bool) -> Answer:
        if method != "PUT":
            return text("", 405)
        if proxied:
            report(entry.name, "proxy", "VM %s (%s): a token PUT through a proxy: 403",
                   entry.name, source)
            return FORBIDDEN
        ttl = imds_tokens.parse_ttl(headers.get(ec2.TTL_HEADER))
        if ttl is None:
            return text("Bad Request\n", 400)
        token = imds_tokens.issue(entry.token_key, ttl)
        return 200, {"Content-Type": "text/plain", ec2.TTL_HEADER: str(ttl),
                     HOP_LIMIT: str(self.hop_limit)}, token.encode()
