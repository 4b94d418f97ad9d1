"""Idempotent POSTs (SPEC §12 hardening, Stripe's semantics): a client that sends an
`Idempotency-Key` and retries after a dropped connection gets the first answer again, and
nothing is created twice.

The key is claimed (an `in_progress` row, committed) before the view runs; the answer is
stored when it is final (below 500). A second request with the key while the first runs
gets 409; with a different body, 422. A 5xx or a streamed answer frees the key, so the
retry runs for real. Records live IDEMPOTENCY_TTL_HOURS (24), purged by retention.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from errors import Conflict, Unprocessable, ValidationFailed
from extensions import db
from models.audit import IdempotencyRecord
from models.types import utcnow

MAX_KEY_LENGTH = 255
STALE_IN_PROGRESS_SECONDS = 120  # a claim this old lost its process: take it over


@dataclass(frozen=True)
class Stored:
    status: int
    body: str
    content_type: str | None
    location: str | None


def _ttl() -> timedelta:
    return timedelta(hours=float(current_app.config["IDEMPOTENCY_TTL_HOURS"]))


KEY_PATTERN = re.compile(f"[!-~]{{1,{MAX_KEY_LENGTH}}}")  # visible ASCII, e.g. a UUID


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationFailed({"Idempotency-Key": [
            f"Send 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces), e.g. a UUID."]})
    return key


def claim(scope: str, key: str, fingerprint: str) -> Stored | None:
    """The stored answer to replay, or None when this request now holds the key."""
    now = utcnow()
    row = db.session.get(IdempotencyRecord, (scope, key), with_for_update=True)
    if row is not None and row.created_at < now - _ttl():
        db.session.delete(row)  # expired: the key is free again
        db.session.flush()
        row = None
    if row is not None:
        if row.fingerprint != fingerprint:
            db.session.rollback()
            raise Unprocessable("This Idempotency-Key was used with a different request; "
                                "use a new key for a new request.",
                                code="idempotency_key_reused")
        if row.state == "done":
            stored = Stored(row.status or 200, row.body or "", row.content_type, row.location)
            db.session.rollback()
            return stored
        if row.created_at > now - timedelta(seconds=STALE_IN_PROGRESS_SECONDS):
            db.session.rollback()
            raise Conflict("A request with this Idempotency-Key is still being processed; "
                           "retry in a moment.", code="idempotency_key_in_use")
        row.created_at = now  # its process died: this request takes it over
        db.session.commit()
        return None
    db.session.add(IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint,
                                     state="in_progress", created_at=now))
    try:
        db.session.commit()
    except IntegrityError:  # the same key arrived twice at once: the other one holds it
        db.session.rollback()
        raise Conflict("A request with this Idempotency-Key is still being processed; "
                       "retry in a moment.", code="idempotency_key_in_use") from None
    return None


def finish(scope: str, key: str, status: int, body: str | None, content_type: str | None,
           location: str | None) -> None:
    """Store the final answer, or free the key when there is none to store (a 5xx, a
    stream): the retry then runs for real."""
    db.session.rollback()  # whatever the view left unfinished is not ours to commit
    row = db.session.get(IdempotencyRecord, (scope, key))
    if row is None:
        return
    if status >= 500 or body is None:
        db.session.delete(row)
    else:
        row.state, row.status, row.body = "done", status, body
        row.content_type, row.location = content_type, (location or None) and location[:500]
    db.session.commit()


def purge(now=None) -> int:  # noqa: ANN001 - datetime
    """Delete records past their time to live; returns how many."""
    now = now or utcnow()
    gone = db.session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.created_at < now - _ttl())).rowcount
    db.session.commit()
    return gone
