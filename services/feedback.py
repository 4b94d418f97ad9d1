"""Feedback on conversations (SPEC §6).

Each rating records the assistant, its version and the sources the rated answer cited, so
analytics can tell which knowledge or which version earns bad ratings. Feedback is allowed
after the session expired and after the assistant was paused or deleted: it judges what
already happened, and that is often only known later.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from errors import ValidationFailed
from extensions import db
from models.base import grouped_for_org
from models.conversations import Conversation, Feedback, Message
from models.orgs import Organization
from services import webhooks
from services.pagination import Page, paginate
from services.sessions import check_attributes

ACTOR_TYPES = ("customer", "agent", "system")


def create_feedback(org: Organization, conversation_id: str, data: dict[str, Any]) -> Feedback:
    conversation = Conversation.get_for_org(conversation_id, org)
    rating = data.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise ValidationFailed({"rating": ["Must be an integer from 1 to 5."]})
    actor = {k: v for k, v in dict(data.get("actor") or {}).items() if v is not None}
    if actor.get("type") not in ACTOR_TYPES:
        raise ValidationFailed({"actor.type": [f"Must be one of {', '.join(ACTOR_TYPES)}."]})
    check_attributes(actor, "actor")
    version = conversation.assistant_version
    source_ids: list[str] = []
    message_id = data.get("message_id")
    if message_id is not None:
        rated = _answer_for(org, conversation, message_id)
        if rated is not None:
            version = rated.assistant_version or version
            source_ids = list(dict.fromkeys(c["source_id"] for c in rated.citations or []))
    feedback = Feedback(
        org_id=org.id, conversation_id=conversation.id, message_id=message_id,
        assistant_id=conversation.assistant_id, assistant_version=version, rating=rating,
        comment=data.get("comment"), actor_type=actor["type"], actor_id=actor.get("id"),
        actor_name=actor.get("name"), actor=actor, source_ids=source_ids,
    )
    db.session.add(feedback)
    db.session.flush()
    webhooks.emit(org.id, "feedback.created", {
        "id": feedback.id, "conversation_id": conversation.id, "message_id": message_id,
        "assistant_id": conversation.assistant_id, "assistant_version": version,
        "rating": rating, "comment": feedback.comment, "actor": actor,
        "source_ids": source_ids})
    db.session.commit()
    return feedback


def _answer_for(org: Organization, conversation: Conversation, message_id: str
                ) -> Message | None:
    """The assistant reply a rating judges: the message itself, or the reply to a rated
    question. A message of another conversation is a field error, not a 404."""
    message = db.session.execute(
        Message.query_for_org(org).where(Message.id == message_id,
                                         Message.conversation_id == conversation.id)
    ).scalar_one_or_none()
    if message is None:
        raise ValidationFailed({"message_id": ["No message with this id in this conversation."]})
    if message.role == "assistant":
        return message
    return db.session.execute(
        select(Message).where(Message.org_id == org.id, Message.reply_to_id == message.id,
                              Message.role == "assistant")
    ).scalars().first()


def list_feedback(org: Organization, conversation_id: str, *, limit: int | None,
                  cursor: str | None) -> Page:
    conversation = Conversation.get_for_org(conversation_id, org)
    stmt = Feedback.query_for_org(org).where(Feedback.conversation_id == conversation.id)
    return paginate(stmt, Feedback, limit=limit, cursor=cursor)


def feedback_for(org: Organization | str, conversation_ids: list[str]) -> dict[str, list]:
    """conversation id → its feedback rows, oldest first (one query, for exports)."""
    return grouped_for_org(Feedback, org, Feedback.conversation_id, conversation_ids)
