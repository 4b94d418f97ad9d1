"""The reference for bench.api: a bare Flask JSON endpoint, served by the same gunicorn
settings as the product, answering a body shaped like `GET /api/v1/assistants/`.

    gunicorn bench.bare_app:app     # GET /bare/
"""
from __future__ import annotations

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


@app.get("/bare/")
def bare():  # noqa: ANN201
    return jsonify(PAYLOAD)
