"""A request's first read retried once on a connection a database restart killed.

The pool no longer pings before every checkout (a round trip per request). Instead the
first statement of a request finds a dead connection, SQLAlchemy invalidates the pool, and
the read runs again on a fresh connection: the client sees no error for it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from extensions import db

T = TypeVar("T")


def first_read(read: Callable[[], T]) -> T:
    """Only for reads that start a request: nothing before them can be half-done."""
    try:
        return read()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        db.session.rollback()
        return read()
