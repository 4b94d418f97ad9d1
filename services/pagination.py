"""Cursor pagination over (created_at, id): stable under inserts, opaque to clients."""
from __future__ import annotations

import base64
import json
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Result, Select, and_, or_

from errors import ValidationFailed
from extensions import db

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, id_: Any) -> str:
    raw = json.dumps([created_at.isoformat(), id_], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_INVALID = {"cursor": ["The cursor is not valid."]}
_BIGINT = 2**63


def decode_cursor(cursor: str) -> tuple[datetime, str | int]:
    """The (created_at, id) a cursor names; anything else is a 422, never a bad query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, id_ = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created)
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(_INVALID) from exc
    # A forged cursor may carry null, a list or a huge number as the id: such a value
    # would reach SQL (PostgreSQL refuses it with an error, i.e. a 500).
    if isinstance(id_, bool) or not isinstance(id_, str | int):
        raise ValidationFailed(_INVALID)
    if isinstance(id_, str) and (len(id_) > 200 or "\x00" in id_):
        raise ValidationFailed(_INVALID)
    if isinstance(id_, int) and not -_BIGINT <= id_ < _BIGINT:
        raise ValidationFailed(_INVALID)
    return moment, id_


_ROW_TYPES: dict[tuple[str, ...], type] = {}


def plain_rows(result: Result) -> list[Any]:
    """The result's rows as named tuples, read by attribute at C speed. Reading a SQLAlchemy
    Row by attribute (row.name) first fails the ordinary lookup and builds an
    AttributeError before it finds the column: ~4,000 instructions on CPython 3.11, and
    serializing five assistants read 80 of them (issue 15). One tuple type per set of
    columns, made on first use (statements are fixed in code, so the types are few)."""
    keys = tuple(result.keys())
    row_type = _ROW_TYPES.get(keys)
    if row_type is None:
        row_type = _ROW_TYPES.setdefault(keys, namedtuple("PageRow", keys))  # type: ignore[misc]
    return [row_type._make(row) for row in result]


_KEYSETS: dict[tuple[Any, bool, bool], tuple[Any, Any, tuple[Any, Any]]] = {}


def _keyset(model: Any, time_column: Any, rows: bool,
            newest_first: bool) -> tuple[Any, Any, tuple[Any, Any]]:
    """(time column, id column, ORDER BY) of a page. A model's own keyset is built once
    and shared by every statement (SQL expressions are immutable): building the two
    ordering terms and looking the columns up cost ~80,000 instructions a page (issue 15)."""
    cache_key = (model, rows, newest_first)
    if time_column is None and (cached := _KEYSETS.get(cache_key)) is not None:
        return cached
    col = time_column if time_column is not None else model.created_at
    id_col = model.id
    if rows:  # the table's columns, so the statement stays free of the ORM
        col, id_col = model.__table__.c[col.key], model.__table__.c.id
    order = (col.desc(), id_col.desc()) if newest_first else (col.asc(), id_col.asc())
    if time_column is None:
        _KEYSETS[cache_key] = (col, id_col, order)
    return col, id_col, order


def paginate(
    stmt: Select, model: Any, *, limit: int | None, cursor: str | None,
    newest_first: bool = True, time_column: Any = None, rows: bool = False,
) -> Page:
    """Keyset pagination: newest first by default (SPEC §1), oldest first for transcripts.

    `rows`: the statement is a Core SELECT of the model's table (query_for_org(org,
    Model.__table__)); the page holds its rows as named tuples, read by attribute like
    instances."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed({"limit": [f"Must be between 1 and {MAX_LIMIT}."]})
    col, id_col, order = _keyset(model, time_column, rows, newest_first)
    if cursor:
        c_time, c_id = decode_cursor(cursor)
        if not isinstance(c_id, id_col.type.python_type):  # a str id for an int column...
            raise ValidationFailed(_INVALID)
        if newest_first:
            stmt = stmt.where(or_(col < c_time, and_(col == c_time, id_col < c_id)))
        else:
            stmt = stmt.where(or_(col > c_time, and_(col == c_time, id_col > c_id)))
    result = db.session.execute(stmt.order_by(*order).limit(limit + 1))
    items = plain_rows(result) if rows else list(result.scalars())
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor(getattr(last, col.key), last.id)
    return Page(items=items, next_cursor=next_cursor)
