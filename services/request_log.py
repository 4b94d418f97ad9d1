"""The request log writer: one row per keyed request, off the request's own transaction.

Synchronous mode (default, REQUEST_LOG_FLUSH_SECONDS=0) writes the row and any pending
`last_used_at` update in one transaction on its own connection, so a rolled-back request
is still logged. Batched mode queues rows and a daemon thread inserts them together every
few hundred milliseconds: one INSERT for many requests, at the price of losing at most one
flush interval of log rows if the process is killed.
"""
from __future__ import annotations

import atexit
import logging
import queue
import threading
from typing import Any

from flask import Flask
from sqlalchemy import insert, update

from extensions import db
from models.audit import RequestLog
from models.orgs import ApiKey

log = logging.getLogger("companin.request_log")


class RequestLogWriter:
    def __init__(self, app: Flask, flush_seconds: float) -> None:
        self.app = app
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue[tuple[dict[str, Any], tuple[str, Any] | None]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def write(self, row: dict[str, Any], touch: tuple[str, Any] | None = None) -> None:
        if self.flush_seconds <= 0:
            self._write_now([row], [touch] if touch else [])
            return
        self._queue.put((row, touch))
        self._ensure_thread()

    def flush(self) -> None:
        rows, touches = [], []
        while True:
            try:
                row, touch = self._queue.get_nowait()
            except queue.Empty:
                break
            rows.append(row)
            if touch:
                touches.append(touch)
        if rows:
            self._write_now(rows, touches)

    def _write_now(self, rows: list[dict[str, Any]], touches: list[tuple[str, Any]]) -> None:
        try:
            with self.app.app_context(), db.engine.begin() as conn:
                conn.execute(insert(RequestLog), rows)
                latest: dict[str, Any] = {}
                for key_id, when in touches:
                    latest[key_id] = max(when, latest.get(key_id, when))
                for key_id, when in latest.items():
                    conn.execute(update(ApiKey).where(ApiKey.id == key_id)
                                 .values(last_used_at=when))
        except Exception:  # noqa: BLE001 - logging must never break a response
            log.exception("could not write %d request-log rows", len(rows))

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.flush_seconds):
            self.flush()


def get_writer(app: Flask) -> RequestLogWriter:
    return app.extensions["companin_request_log"]
