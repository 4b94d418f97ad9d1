"""Reads retried once on a connection a database restart killed.

The pool no longer pings before every checkout (a round trip per request). Instead the
first statement that meets a dead connection fails, SQLAlchemy invalidates the pool, and
the read runs again on a fresh connection: the client sees no error for it. Used for
authentication (the first read of most requests) and for every GET view; a write that
meets a dead connection answers 503 with Retry-After, nothing written.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from extensions import db

T = TypeVar("T")


def first_read(read: Callable[[], T]) -> T:
    """Only for reads: running them twice changes nothing."""
    try:
        return read()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        db.session.rollback()
        return read()
