"""HTTP answers and session tokens, as the metadata services of the clouds give them."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Dict, List, Optional, Tuple

Answer = Tuple[int, Dict[str, str], bytes]


def text(body: str, status: int = 200) -> Answer:
    return status, {"Content-Type": "text/plain"}, body.encode()


def raw(body: bytes, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/octet-stream"}, body


def as_json(value: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def as_list(value: Any) -> List[str]:
    """A VM's value that may be one address or a list of them."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


NOT_FOUND = text("Not Found\n", 404)
UNAUTHORIZED = text("Unauthorized\n", 401)
FORBIDDEN = text("Forbidden\n", 403)


class Tokens:
    """Session tokens as EC2's IMDSv2 and Aliyun's hardened mode issue and check them.

    A token may be bound to an owner (the VM that asked for it): a token of
    another owner is refused as if it were unknown.
    """

    LIMIT = 100_000  # live tokens kept at most; expired ones are dropped first

    def __init__(self, ttl_header: str, token_header: str) -> None:
        self.ttl_header = ttl_header
        self.token_header = token_header
        self.valid: Dict[str, Tuple[float, Optional[str]]] = {}

    def issue(self, headers, owner: Optional[str] = None) -> Answer:
        """Answer the token PUT: a token for the asked TTL (1..21600 s), else 400."""
        ttl = headers.get(self.ttl_header, "")
        if not (ttl.isascii() and ttl.isdigit() and len(ttl) <= 5) or not 1 <= int(ttl) <= 21600:
            return text("Bad Request\n", 400)  # "²" and "٣" are digits to isdigit()
        if len(self.valid) >= self.LIMIT:
            self._forget_expired()
        token = secrets.token_urlsafe(32)
        self.valid[token] = (time.monotonic() + int(ttl), owner)
        return text(token)

    def refused(self, headers, mode: str, owner: Optional[str] = None) -> bool:
        """True when a GET must get 401: a token sent that is unknown, expired or
        another owner's, or none sent where ``mode`` is ``required``."""
        token = headers.get(self.token_header)
        if mode == "unsupported" or (token is None and mode != "required"):
            return False
        expiry, holder = self.valid.get(token or "", (0.0, None))
        return expiry < time.monotonic() or holder != owner

    def _forget_expired(self) -> None:
        now = time.monotonic()
        self.valid = {t: v for t, v in self.valid.items() if v[0] >= now}
        while len(self.valid) >= self.LIMIT:  # all live: drop the oldest issued
            self.valid.pop(next(iter(self.valid)))
