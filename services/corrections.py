"""Corrections (SPEC §11): an operator fixes a bad reply in one step. The right answer
becomes a Q&A pair — ingested like any other, linked to the reply it corrects and so to
that reply's feedback — and the same or a near-identical question is then answered with
it (the local engine quotes a matching pair verbatim; the model is given it first).
"""
from __future__ import annotations

from dataclasses import dataclass

from errors import NotFound, ValidationFailed
from models.conversations import Feedback, Message
from models.jobs import Job
from models.knowledge import KnowledgeSource
from models.orgs import Organization
from services.conversations import get_conversation
from services.knowledge.sources import create_qas
from extensions import db

CORRECTION_TAG = "correction"


@dataclass
class Correction:
    source: KnowledgeSource
    message: Message
    job: Job | None
    duplicate: bool  # the organization already had this very pair
    feedback_ids: list[str]


def correct(org: Organization, conversation_id: str, message_id: str, *, answer: str,
            question: str | None = None) -> Correction:
    """Save `answer` as the Q&A pair for the question `message_id` replied to (or for
    `question`, when given)."""
    reply = reply_of(org, conversation_id, message_id)
    if question is None or not question.strip():
        question = Message.get_for_org(reply.reply_to_id, org).content \
            if reply.reply_to_id else ""
    if not isinstance(answer, str):
        raise ValidationFailed({"answer": ["Give an answer of 1 to 20000 characters."]})
    message_id = reply.id
    sources, job, existed = create_qas(
        org, [{"question": question, "answer": answer, "tags": [CORRECTION_TAG]}],
        corrects_message_id=message_id)
    source = sources[0]
    return Correction(source=source, message=Message.get_for_org(message_id, org), job=job,
                      duplicate=source.id in existed, feedback_ids=feedback_of(org, message_id))


def reply_of(org: Organization, conversation_id: str, message_id: str) -> Message:
    """An assistant reply of that conversation (404 otherwise, 422 for a question)."""
    conversation = get_conversation(org, conversation_id)
    message = Message.get_for_org(message_id, org)
    if message.conversation_id != conversation.id:
        raise NotFound("Message not found in this conversation.")
    if message.role != "assistant":
        raise ValidationFailed({"message_id": [
            "Only an assistant reply can be corrected; this is the customer's message."]})
    return message


def feedback_of(org: Organization, message_id: str) -> list[str]:
    return [f.id for f in db.session.execute(
        Feedback.query_for_org(org).where(Feedback.message_id == message_id)
        .order_by(Feedback.created_at)).scalars()]


def corrections_of(org: Organization, message_ids: list[str]) -> dict[str, KnowledgeSource]:
    """The newest correction of each of these replies (a transcript shows them)."""
    if not message_ids:
        return {}
    rows = db.session.execute(
        KnowledgeSource.query_for_org(org).where(
            KnowledgeSource.corrects_message_id.in_(message_ids))
        .order_by(KnowledgeSource.created_at)).scalars()
    return {s.corrects_message_id: s for s in rows}
