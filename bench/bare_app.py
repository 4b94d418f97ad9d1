"""The references for bench.api, served by the same gunicorn settings as the product:

- `/bare-select/`: a bare Flask endpoint that runs the same list query with psycopg (one
  SELECT of the same assistant rows, one connection per worker thread, reused) and answers
  the same JSON shape as `GET /api/v1/assistants/`. This is the reference of issue 15: what
  a call that must read the database costs with nothing else around it.
- `/bare/`: no store at all, a constant body (kept for information).

    gunicorn bench.bare_app:app     # DATABASE_URL and BENCH_ORG_ID for /bare-select/
"""
from __future__ import annotations

import os
import threading

from flask import Flask, jsonify

app = Flask(__name__)

_ITEM = {
    "id": "asst_0000000000000000000000", "name": "Concierge", "description": "Front desk",
    "tone": "warm", "language": "en", "instructions": "Answer briefly.",
    "task_models": {"chat": "claude-sonnet-4-5", "summarize": "claude-haiku-4-5"},
    "is_active": True, "live_version": 1, "latest_version": 1,
    "knowledge": {"mode": "all", "linked": [], "excluded": []},
    "created_at": "2026-11-25T08:00:00Z", "updated_at": "2026-11-25T08:00:00Z",
}
PAYLOAD = {"items": [dict(_ITEM, id=f"asst_{i:022d}") for i in range(5)], "next_cursor": None}

_SELECT = (
    "SELECT id, name, description, tone, language, instructions, task_models, is_active, "
    "live_version, latest_version, knowledge_mode, knowledge_linked, knowledge_excluded, "
    "created_at, updated_at FROM assistants WHERE org_id = %s AND deleted_at IS NULL "
    "ORDER BY created_at DESC, id DESC LIMIT 21")
_local = threading.local()


def _connection():  # noqa: ANN202 - psycopg.Connection
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        import psycopg

        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        conn = _local.conn = psycopg.connect(url, autocommit=True)
    return conn


@app.get("/bare/")
def bare():  # noqa: ANN201
    return jsonify(PAYLOAD)


@app.get("/bare-select/")
def bare_select():  # noqa: ANN201
    rows = _connection().execute(_SELECT, (os.environ["BENCH_ORG_ID"],)).fetchall()
    items = [{
        "id": r[0], "name": r[1], "description": r[2], "tone": r[3], "language": r[4],
        "instructions": r[5], "task_models": r[6], "is_active": r[7], "live_version": r[8],
        "latest_version": r[9],
        "knowledge": {"mode": r[10], "linked": r[11], "excluded": r[12]},
        "created_at": r[13].isoformat(), "updated_at": r[14].isoformat(),
    } for r in rows[:20]]
    return jsonify({"items": items, "next_cursor": None})
