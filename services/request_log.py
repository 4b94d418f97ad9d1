"""The request log writer: one row per keyed request, off the request's own transaction.

Synchronous mode (REQUEST_LOG_FLUSH_SECONDS=0, the embedded default) writes the row and any
pending `last_used_at` update in one transaction after the request has given its own
connection back, so a request never holds two pooled connections and a rolled-back request
is still logged. Batched mode (services default) queues rows and a daemon thread inserts
them together every few hundred milliseconds: one INSERT for many requests.

Either way a write the database could not take is kept and retried (it may be
restarting); a batch it refused for its data (a value too long for a column, say) is
written row by row and only the refused rows are dropped, so one bad row cannot block the
log. The queue is bounded (REQUEST_LOG_QUEUE_MAX) so an outage cannot exhaust memory;
what overflows or is refused is counted in `dropped` (shown by /healthz). Process exit
flushes what is queued, so only a kill -9 loses rows: at most one flush interval of them.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from typing import Any

from flask import Flask
from sqlalchemy import insert, update
from sqlalchemy.exc import DataError, IntegrityError

from extensions import db
from models.audit import RequestLog
from models.orgs import ApiKey

log = logging.getLogger("companin.request_log")

Touch = tuple[str, Any]
# After a failed write the thread waits this long (doubling up to the cap) before retrying.
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 10.0


class RequestLogWriter:
    def __init__(self, app: Flask, flush_seconds: float, max_queued: int = 10_000) -> None:
        self.app = app
        self.flush_seconds = flush_seconds
        self.max_queued = max(1, max_queued)
        # (sequence number, row, touch): the number tells a flush which rows it wrote
        # when rows were dropped from the front or appended meanwhile.
        self._pending: deque[tuple[int, dict[str, Any], Touch | None]] = deque()
        self._seq = 0
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one writer at a time keeps rows in order
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._retry_delay = 0.0
        self.dropped = 0
        self.failed_flushes = 0
        self.written = 0

    def write(self, row: dict[str, Any], touch: Touch | None = None) -> None:
        if (self.flush_seconds <= 0 and not self._pending
                and self._write_now([row], [touch] if touch else [])):
            return
        self._enqueue(row, touch)  # batched, or the database is away: the thread retries

    def _enqueue(self, row: dict[str, Any], touch: Touch | None) -> None:
        with self._pending_lock:
            if len(self._pending) >= self.max_queued:
                self._pending.popleft()  # the oldest goes: recent traffic matters more
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error("request-log queue full (%d rows): %d rows dropped so far",
                              self.max_queued, self.dropped)
            self._seq += 1
            self._pending.append((self._seq, row, touch))
        self._ensure_thread()

    def stats(self) -> dict[str, int]:
        return {"queued": len(self._pending), "dropped": self.dropped,
                "failed_flushes": self.failed_flushes, "written": self.written}

    def flush(self) -> bool:
        """Write everything queued; False (rows kept for the next try) when it failed."""
        with self._flush_lock:
            with self._pending_lock:
                batch = list(self._pending)
            if not batch:
                return True
            rows = [row for _, row, _ in batch]
            touches = [touch for _, _, touch in batch if touch]
            if not self._write_now(rows, touches):
                return False
            last = batch[-1][0]
            with self._pending_lock:  # what this batch wrote; later rows stay queued
                while self._pending and self._pending[0][0] <= last:
                    self._pending.popleft()
            return True

    def _write_now(self, rows: list[dict[str, Any]], touches: list[Touch]) -> bool:
        """True when the rows are written or refused for good (counted as dropped)."""
        try:
            self._insert(rows, touches)
        except (DataError, IntegrityError):
            if len(rows) > 1:  # find the refused rows; write the others
                return all([self._write_now([row], []) for row in rows]) and (
                    not touches or self._write_now([], touches))
            self.dropped += len(rows)
            log.exception("request-log row refused by the database, dropped: %s", rows)
            return True
        except Exception:  # noqa: BLE001 - logging must never break a response
            self.failed_flushes += 1
            log.exception("could not write %d request-log rows; they are kept for a retry",
                          len(rows))
            return False
        self.written += len(rows)
        return True

    def _insert(self, rows: list[dict[str, Any]], touches: list[Touch]) -> None:
        with self.app.app_context(), db.engine.begin() as conn:
            if rows:
                conn.execute(insert(RequestLog), rows)
            latest: dict[str, Any] = {}
            for key_id, when in touches:
                latest[key_id] = max(when, latest.get(key_id, when))
            for key_id, when in latest.items():
                conn.execute(update(ApiKey).where(ApiKey.id == key_id)
                             .values(last_used_at=when))

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._thread_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def close(self) -> None:
        """Flush on the way out (atexit); one retry if it fails."""
        if not self.flush():
            time.sleep(RETRY_FIRST_SECONDS)
            self.flush()
        if self._pending:
            log.error("%d request-log rows could not be written at exit", len(self._pending))

    def _run(self) -> None:
        while True:
            wait = self._retry_delay or (self.flush_seconds if self.flush_seconds > 0
                                         else RETRY_FIRST_SECONDS)
            time.sleep(wait)
            if self.flush():
                self._retry_delay = 0.0
            else:
                self._retry_delay = min(RETRY_MAX_SECONDS,
                                        (self._retry_delay or RETRY_FIRST_SECONDS) * 2)


def get_writer(app: Flask) -> RequestLogWriter:
    return app.extensions["companin_request_log"]
