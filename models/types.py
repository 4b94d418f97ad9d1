"""Column types shared by every model."""
from __future__ import annotations

import json
from datetime import datetime, UTC
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL would shift it."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        # = value.replace(tzinfo=UTC) at a quarter of the cost: replace() parses keyword
        # arguments (~10,000 instructions), and every timestamp read comes through here.
        return datetime.combine(value.date(), value.time(), UTC)


# JSONB on PostgreSQL (indexable, compact), plain JSON elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")
_decode_json = json.JSONDecoder().decode


def json_from_db(data: bytes | str) -> Any:
    """A JSON value as the database driver hands it over (the engine's json_deserializer).
    psycopg hands UTF-8 bytes, and json.loads(bytes) first sniffs UTF-16/32 in Python:
    ~8,000 instructions of a ~17,000 decode, three times per assistant listed (issue 15).
    Text (SQLite) goes through json.loads as before."""
    if isinstance(data, bytes):
        return _decode_json(data.decode())
    return json.loads(data)


def to_utc(value: datetime) -> datetime:
    """The same moment in UTC; a value without a zone is UTC already (we store UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a trailing Z, as SPEC §1 asks."""
    if value is None:
        return None
    return to_utc(value).isoformat().replace("+00:00", "Z")
