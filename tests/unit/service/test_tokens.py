"""IMDSv2 tokens (service/tokens.py): the TTL as EC2 takes it, a token bound to its VM's key
and its expiry, nothing kept per token."""

from __future__ import annotations

import secrets
import tracemalloc

import pytest

from nm_cloud_setup.service import tokens


@pytest.mark.parametrize("value,seconds", [
    ("1", 1), ("21600", 21600), ("060", 60),
    ("0", None), ("21601", None), ("", None), (None, None), ("²", None), ("٣٠", None),
    ("1" * 5000, None), ("+60", None), (" 60", None), ("60\n", None), ("6e1", None),
    ("\udcb2", None), ("00060", 60), ("000060", None)])
def test_the_ttl_is_ascii_digits_within_1_to_21600(value, seconds):
    assert tokens.parse_ttl(value) == seconds


def test_a_token_is_its_vms_own_until_it_expires():
    key, other = secrets.token_bytes(16), secrets.token_bytes(16)
    token = tokens.issue(key, 60, now=1000)
    assert len(token) == 43 and token.isascii()
    assert tokens.valid(key, token, now=1059)
    assert not tokens.valid(key, token, now=1060)  # expired
    assert not tokens.valid(other, token, now=1000)  # another VM's key (or a new one)
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (flipped, token[:-1], token + "A", "", "é" * 43, "\udcb2" * 43, "=" * 43):
        assert not tokens.valid(key, bad, now=1000), bad


def test_tokens_take_no_memory():
    key = secrets.token_bytes(16)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    issued = [tokens.issue(key, 60) for _ in range(1000)]
    del issued
    for _ in range(100_000):
        tokens.issue(key, 60)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 64 << 10
