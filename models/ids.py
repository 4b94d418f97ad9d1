"""Opaque prefixed identifiers (SPEC §1): unguessable, unique across organizations."""
from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 24  # 24 base62 chars ≈ 143 bits of randomness

PREFIXES = frozenset(
    {"org", "key", "usr", "asst", "astv", "kf", "kq", "ku", "chk", "sess", "eu", "ctx",
     "conv", "msg", "fb", "job", "req", "rle", "tc", "ev", "apr", "aud", "wh", "whd", "evt"}
)


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def has_prefix(value: str, *prefixes: str) -> bool:
    """Cheap shape check so a wrong-kind id is a 404 without a query."""
    head, sep, tail = value.partition("_")
    return bool(sep) and head in prefixes and 0 < len(tail) <= 64 and tail.isalnum()


def id_factory(prefix: str):
    """Column default for a model's primary key."""
    return lambda: new_id(prefix)
