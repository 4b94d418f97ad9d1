"""Helpers for the session/conversation stories: small, explicit, no mocks of our code."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest


# Unit tests of the answer engine's decisions feed it hits of the real retrieval type.
from services.knowledge.retrieval import Hit  # noqa: E402,F401


# A small product manual used by the answer and streaming stories.
MANUAL = (
    b"Acme Bikes user manual.\n\n"
    b"Battery care. The battery of the e-bike must be charged every three months, even "
    b"when the bike is not used. A full charge takes about four hours.\n\n"
    b"Warranty. The frame is covered by a ten year warranty. Electrical parts are "
    b"covered for two years from the date of purchase.\n\n"
    b"Cleaning. Do not use pressure washers on the motor or the battery housing.\n"
)


def no_hits(org: Any, query: str, *, assistant: Any = None, top_k: int = 5) -> list:
    """A knowledge base with nothing in it."""
    return []


def fixed_hits(*hits: Hit):  # noqa: ANN201
    def retrieve(org: Any, query: str, *, assistant: Any = None, top_k: int = 5) -> list:
        return list(hits)[:top_k]

    return retrieve


def open_session(tenant, assistant_id: str, **body: Any) -> dict:  # noqa: ANN001
    resp = tenant.post("/api/v1/sessions/", json={"assistant_id": assistant_id, **body})
    assert resp.status_code == 201, resp.json
    return resp.json


def start_conversation(tenant, session_id: str, **body: Any) -> dict:  # noqa: ANN001
    resp = tenant.post("/api/v1/conversations/", json={"session_id": session_id, **body})
    assert resp.status_code == 201, resp.json
    return resp.json


def exchange(app, org_id: str, conversation_id: str, content: str,  # noqa: ANN001
             retrieve=no_hits) -> tuple[str, str]:  # noqa: ANN001
    """Post a message through the service with an injected retrieval; returns the ids of
    the stored question and reply."""
    from extensions import db
    from models.orgs import Organization
    from services.conversations import post_message

    with app.app_context():
        question, reply = post_message(db.session.get(Organization, org_id), conversation_id,
                                       content, retrieve=retrieve)
        return question.id, reply.id


def expire_now(app, session_id: str) -> None:  # noqa: ANN001
    """Move the session's clock: its TTL ran out a minute ago."""
    from sqlalchemy import update

    from extensions import db
    from models.sessions import Session
    from models.types import utcnow

    with app.app_context():
        db.session.execute(update(Session).where(Session.id == session_id).values(
            expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()


def count(app, model) -> int:  # noqa: ANN001
    from sqlalchemy import func, select

    from extensions import db

    with app.app_context():
        return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def session(tenant, assistant) -> dict:  # noqa: ANN001
    return open_session(tenant, assistant["id"], channel="web")


@pytest.fixture
def conversation(tenant, session) -> dict:  # noqa: ANN001
    return start_conversation(tenant, session["id"])


# --- Anthropic's streaming wire (SSE), faked at the HTTP layer only -----------------------

def anthropic_sse_events(*texts: str, stop_reason: str = "end_turn",
                         model: str = "claude-sonnet-4-5", input_tokens: int = 412,
                         output_tokens: int = 57) -> list[bytes]:
    """The Messages API's streamed reply: one SSE event per item, text deltas in between."""
    import json

    def event(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    return [
        event("message_start", {"type": "message_start", "message": {
            "id": "msg_01stream", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}),
        event("ping", {"type": "ping"}),
        *(event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": t}})
          for t in texts),
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                "usage": {"output_tokens": output_tokens}}),
        event("message_stop", {"type": "message_stop"}),
    ]


def anthropic_stream_error(error_type: str = "overloaded_error") -> bytes:
    """An error event inside a 200 stream (the API's way of failing mid-reply)."""
    import json

    return ("event: error\ndata: " + json.dumps(
        {"type": "error", "error": {"type": error_type, "message": "Overloaded"}}) + "\n\n"
            ).encode()


def sse_response(events: list[bytes]):  # noqa: ANN201
    import httpx

    return httpx.Response(200, headers={"content-type": "text/event-stream"},
                          content=b"".join(events))


def read_sse(body: bytes) -> list[tuple[str, dict]]:
    """Our own text/event-stream body → [(event, data)]."""
    import json

    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events
