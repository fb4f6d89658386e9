"""Ids shaped like the real server's: a prefix and base62 characters."""

from __future__ import annotations

import secrets
import string

_BASE62 = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 21) -> str:
    """`event_…`, `sess_…`, `conv_…`, `resp_…`, `item_…` (21), `call_…` (16)."""
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(length))
