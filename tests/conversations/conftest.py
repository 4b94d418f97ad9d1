"""Helpers for the session/conversation stories: small, explicit, no mocks of our code."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest


# Unit tests of the answer engine's decisions feed it hits of the real retrieval type.
from services.knowledge.retrieval import Hit  # noqa: E402,F401


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
