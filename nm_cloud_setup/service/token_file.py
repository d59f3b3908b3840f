"""The API's bearer token, read from a file that only its owner may read."""

from __future__ import annotations

import stat
from pathlib import Path


def read_token(path: Path) -> str:
    """The token in ``path``; ValueError when others may read the file, or the token is
    not one word of 16 or more ASCII characters."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path} is mode {mode:04o}: others may read the API token "
                         f"(chmod 600 {path})")
    token = path.read_text().strip()
    if len(token) < 16 or any(c.isspace() for c in token) or not token.isascii():
        raise ValueError(f"{path}: the API token must be one word of 16 or more ASCII "
                         "characters")
    return token
