"""Reads retried once on a connection a database restart killed, and read-only requests
served outside a transaction.

The pool no longer pings before every checkout (a round trip per request). Instead the
first statement that meets a dead connection fails, SQLAlchemy invalidates the pool, and
the read runs again on a fresh connection: the client sees no error for it. Used for
authentication (the first read of most requests) and for every GET view; a write that
meets a dead connection answers 503 with Retry-After, nothing written.

A GET view on PostgreSQL runs its statements in autocommit: under READ COMMITTED each
statement sees its own snapshot either way, so a read-only request loses nothing, and it
saves the BEGIN and the ROLLBACK round trips that were half of a small list's database
time (issue 15). GET views never write; one that did would still commit, statement by
statement.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from extensions import db

T = TypeVar("T")


def first_read(read: Callable[[], T], *, outside_transaction: bool = False) -> T:
    """Only for reads: running them twice changes nothing."""
    try:
        return read()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        db.session.rollback()
        if outside_transaction:
            read_outside_transaction()
        return read()


def read_outside_transaction() -> None:
    """Procure the session's connection in autocommit. Called first thing in a read-only
    request (before authentication may read the key), and again after a retry's rollback;
    a session that already began keeps its transaction."""
    session = db.session()  # the request's Session behind the scoped proxy
    if session.in_transaction() or db.engine.dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
