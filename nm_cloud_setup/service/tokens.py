"""IMDSv2 session tokens, kept nowhere: a token is the VM's own signature on its expiry.

A token is ``expiry (4 bytes) + nonce (8) + HMAC-SHA256(VM's key, expiry + nonce)[:20]``,
URL-safe base64 (43 characters).  Checking one needs the key of the VM that asks
(told by the source address): another VM's token fails, an expired one fails.  So a
VM may ask for as many tokens as it likes: nothing is stored, nothing is evicted,
no other VM's token is touched.  All of a VM's tokens die at once when its key
changes (``store``: the VM deleted and created again, or given a new instance id).
The expiry is wall-clock time, so tokens outlive a restart of the service and hold
on every host that shares the database (their clocks in step).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import time
from typing import Optional

MAX_TTL = 21600  # seconds, as EC2
_TTL = re.compile(r"[0-9]{1,5}", re.ASCII)
_MAC = 20


def parse_ttl(value: Optional[str]) -> Optional[int]:
    """The TTL header's seconds if they are ASCII digits within 1..21600, else None."""
    if value is None or not _TTL.fullmatch(value):
        return None
    seconds = int(value)
    return seconds if 1 <= seconds <= MAX_TTL else None


def _sign(key: bytes, head: bytes) -> bytes:
    return hmac.new(key, head, hashlib.sha256).digest()[:_MAC]


def issue(key: bytes, ttl: int, now: Optional[float] = None) -> str:
    expiry = int(now if now is not None else time.time()) + ttl
    head = struct.pack(">I", expiry) + secrets.token_bytes(8)
    return base64.urlsafe_b64encode(head + _sign(key, head)).decode().rstrip("=")


def valid(key: bytes, token: str, now: Optional[float] = None) -> bool:
    """Whether ``token`` was issued with ``key`` and has not expired."""
    if len(token) != 43:
        return False
    try:
        raw = base64.urlsafe_b64decode(token + "=")
    except (binascii.Error, ValueError):
        return False
    head, mac = raw[:12], raw[12:]
    if not hmac.compare_digest(mac, _sign(key, head)):
        return False
    return struct.unpack(">I", head[:4])[0] > (now if now is not None else time.time())
