"""Conversations and messages (SPEC §6).

A question and its reply are written together, after the reply exists: if retrieval or
the model fails before any of the reply exists, neither is stored. The database connection
is released while the model works (`_begin`) and a fresh one stores the exchange. A
streamed reply is stored when its stream ends, also when the client went away mid-way
(the text delivered so far, marked incomplete). Conversations stay readable after their session
expires or their assistant is deleted; only new conversations and messages are refused.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update

from errors import AppError, ValidationFailed
from extensions import db
from models.base import grouped_for_org
from models.assistants import Assistant
from models.conversations import Conversation, Feedback, Message
from models.orgs import Organization
from models.sessions import EndUser, Session
from models.types import utcnow
from services import answering
from services.answering import Prepared, Reply, ReplyStream, Retriever
from services.assistants import require_serving
from services.contexts import session_attributes
from services.pagination import Page, paginate
from services.prompting import HISTORY_MESSAGES
from services.sessions import check_attributes, require_active

MAX_CONTENT_CHARS = 8000
log = logging.getLogger("companin.conversations")


ANSWER_TYPES = ("qa_match", "extractive", "generative", "no_answer")


@dataclass
class ConversationFilters:
    """What a support lead narrows a review to (SPEC §5 and §11). Message and feedback
    filters keep a conversation when any of its replies (or ratings) matches."""

    session_id: str | None = None
    assistant_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    rating_max: int | None = None  # some rating at most this
    answer_type: str | None = None  # some reply of this type (e.g. no_answer)
    grounded: bool | None = None  # some reply grounded (true) or not grounded (false)
    q: str | None = None  # text in any message, case-insensitive
    external_id: str | None = None  # the end user's id in the organization's systems
    channel: str | None = None  # the session's channel


def create_conversation(org: Organization, *, session_id: str, assistant_id: str | None = None,
                        metadata: dict[str, Any] | None = None) -> Conversation:
    """Start a conversation in an active session, pinned to the assistant's live version."""
    session = Session.get_for_org(session_id, org)
    assistant = Assistant.get_for_org(assistant_id or session.assistant_id, org)
    metadata = check_attributes(
        {k: v for k, v in (metadata or {}).items() if v is not None}, "metadata")
    require_active(session)
    require_serving(assistant)
    conversation = Conversation(
        org_id=org.id, session_id=session.id, assistant_id=assistant.id,
        assistant_version=assistant.live_version, end_user_id=session.end_user_id,
        meta=metadata,
    )
    db.session.add(conversation)
    db.session.commit()
    return conversation


def check_content(content: Any) -> str:
    """1..8000 characters of text, no NUL bytes (they break storage and prompts)."""
    if not isinstance(content, str) or not content.strip():
        raise ValidationFailed({"content": ["Write a message of 1 to 8000 characters."]})
    if len(content) > MAX_CONTENT_CHARS:
        raise ValidationFailed({"content": [f"At most {MAX_CONTENT_CHARS} characters."]})
    if "\x00" in content:
        raise ValidationFailed({"content": ["NUL characters are not allowed."]})
    return content


def get_conversation(org: Organization | str, conversation_id: str) -> Conversation:
    return Conversation.get_for_org(conversation_id, org)


def conversation_query(org: Organization | str, filters: ConversationFilters) -> Select:
    stmt = Conversation.query_for_org(org)
    if filters.session_id is not None:
        stmt = stmt.where(Conversation.session_id == filters.session_id)
    if filters.assistant_id is not None:
        stmt = stmt.where(Conversation.assistant_id == filters.assistant_id)
    if filters.since is not None:
        stmt = stmt.where(Conversation.created_at >= _utc(filters.since))
    if filters.until is not None:
        stmt = stmt.where(Conversation.created_at < _utc(filters.until))
    replies = Message.query_for_org(org).where(Message.conversation_id == Conversation.id,
                                               Message.role == "assistant")
    if filters.answer_type is not None:
        stmt = stmt.where(replies.where(Message.answer_type == filters.answer_type).exists())
    if filters.grounded is not None:
        stmt = stmt.where(replies.where(Message.grounded.is_(filters.grounded)).exists())
    if filters.q:
        pattern = "%" + _escape_like(filters.q.lower()) + "%"
        stmt = stmt.where(Message.query_for_org(org).where(
            Message.conversation_id == Conversation.id,
            func.lower(Message.content).like(pattern, escape="\\")).exists())
    if filters.rating_max is not None:
        stmt = stmt.where(Feedback.query_for_org(org).where(
            Feedback.conversation_id == Conversation.id,
            Feedback.rating <= filters.rating_max).exists())
    if filters.external_id is not None:
        stmt = stmt.where(Conversation.end_user_id.in_(
            EndUser.query_for_org(org).where(EndUser.external_id == filters.external_id)
            .with_only_columns(EndUser.id)))
    if filters.channel is not None:
        stmt = stmt.where(Conversation.session_id.in_(
            Session.query_for_org(org).where(Session.channel == filters.channel)
            .with_only_columns(Session.id)))
    return stmt


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _utc(value: datetime) -> datetime:
    """Query times without a zone are taken as UTC, like every time we print."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def list_conversations(org: Organization, filters: ConversationFilters, *,
                       limit: int | None, cursor: str | None) -> Page:
    return paginate(conversation_query(org, filters), Conversation, limit=limit,
                    cursor=cursor)


def list_messages(org: Organization, conversation_id: str, *, limit: int | None,
                  cursor: str | None) -> Page:
    """A transcript reads oldest first."""
    conversation = Conversation.get_for_org(conversation_id, org)
    stmt = Message.query_for_org(org).where(Message.conversation_id == conversation.id)
    return paginate(stmt, Message, limit=limit, cursor=cursor, newest_first=False)


def recent_history(org: Organization | str, conversation_id: str,
                   limit: int = HISTORY_MESSAGES) -> list[tuple[str, str]]:
    rows = db.session.execute(
        Message.query_for_org(org).where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    ).scalars()
    return [(m.role, m.content) for m in reversed(list(rows))]


@dataclass
class _Turn:
    """A question being answered, held as plain values while no connection is held."""

    org_id: str
    conversation_id: str
    content: str
    received_at: datetime
    prepared: Prepared


@dataclass
class ReplyEvent:
    """One step of a streamed answer: a `delta` of text, then `done` with the stored
    (question, reply) — or `error` when the model failed mid-reply in fail mode (the
    question and the reply so far are stored all the same)."""

    kind: str  # delta | done | error
    text: str = ""
    messages: tuple[Message, Message] | None = None
    error: AppError | None = None


def _begin(org: Organization, conversation_id: str, content: str,
           retrieve: Retriever | None) -> _Turn:
    """Every check and read, then the database connection is released: the model call
    that follows may take many seconds and must not hold one."""
    check_content(content)
    received_at = utcnow()
    conversation = Conversation.get_for_org(conversation_id, org)
    session = Session.get_for_org(conversation.session_id, org)
    assistant = Assistant.get_for_org(conversation.assistant_id, org, include_deleted=True)
    require_active(session)
    require_serving(assistant)
    history = recent_history(org, conversation.id)
    context = session_attributes(org, session.id)
    prepared = answering.prepare(org, assistant, content, history=history, context=context,
                                 retrieve=retrieve)
    turn = _Turn(org.id, conversation.id, content, received_at, prepared)
    db.session.close()  # returns the connection; _store opens a new transaction
    return turn


def post_message(org: Organization, conversation_id: str, content: str, *,
                 retrieve: Retriever | None = None) -> tuple[Message, Message]:
    """Answer `content` and store question and reply together (or nothing on failure)."""
    turn = _begin(org, conversation_id, content, retrieve)
    return _store(turn, answering.generate(turn.prepared))


def stream_message(org: Organization, conversation_id: str, content: str, *,
                   retrieve: Retriever | None = None) -> Iterator[ReplyEvent]:
    """Answer `content` as a stream of ReplyEvents. Everything that can refuse the question
    — validation, state, a model failure before the first delta in fail mode — raises
    here, before the first event. Question and reply are stored together when the stream
    ends, however it ends: when the consumer stops early (the client disconnected) the
    reply holds the text delivered so far and is marked incomplete."""
    turn = _begin(org, conversation_id, content, retrieve)
    replies = answering.stream(turn.prepared)
    replies.start()
    return _reply_events(turn, replies)


def _reply_events(turn: _Turn, replies: ReplyStream) -> Iterator[ReplyEvent]:
    sent: list[str] = []
    deltas = iter(replies)
    try:
        for delta in deltas:
            yield ReplyEvent("delta", text=delta)
            sent.append(delta)  # reached only once the consumer took the event
    except GeneratorExit:
        deltas.close()
        try:
            _store(turn, replies.finish("".join(sent), interrupted="client_disconnected"))
        except Exception:  # noqa: BLE001 - nobody is listening any more; keep the trace
            db.session.rollback()
            log.exception("storing the interrupted reply in %s failed", turn.conversation_id)
        raise
    except Exception:
        deltas.close()
        _store(turn, replies.finish("".join(sent), interrupted="internal_error"))
        raise
    question, reply = _store(turn, replies.finish("".join(sent)))
    if replies.error is not None and replies.fails_loudly:
        error = replies.error
        error.details = {**error.details, "message_id": question.id, "reply_id": reply.id}
        yield ReplyEvent("error", messages=(question, reply), error=error)
    else:
        yield ReplyEvent("done", messages=(question, reply))


def _store(turn: _Turn, result: Reply) -> tuple[Message, Message]:
    """Question and reply in one transaction, on a fresh connection."""
    question = Message(org_id=turn.org_id, conversation_id=turn.conversation_id,
                       role="user", content=turn.content, created_at=turn.received_at)
    db.session.add(question)
    db.session.flush()
    reply = Message(
        org_id=turn.org_id, conversation_id=turn.conversation_id, role="assistant",
        content=result.content, reply_to_id=question.id, citations=result.citations,
        retrieval=result.retrieval, assistant_version=result.assistant_version,
        model=result.model, latency_ms=result.latency_ms, input_tokens=result.input_tokens,
        output_tokens=result.output_tokens, grounded=result.grounded,
        answer_type=result.answer_type, status=result.status,
        status_reason=result.status_reason, fallback_reason=result.fallback_reason,
        # Strictly after the question so a transcript never shows the reply first.
        created_at=max(utcnow(), turn.received_at + timedelta(microseconds=1)),
    )
    db.session.add(reply)
    db.session.execute(
        update(Conversation).where(Conversation.id == turn.conversation_id).values(
            message_count=Conversation.message_count + 2,
            last_message_at=reply.created_at, updated_at=reply.created_at)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return question, reply


@dataclass
class ExportRecord:
    """One conversation with everything an audit or analytics export needs."""

    conversation: Conversation
    messages: list[Message]
    feedback: list[Any]
    channel: str | None
    external_id: str | None


EXPORT_BATCH = 100


def iter_export(org: Organization, filters: ConversationFilters, *,
                batch_size: int = EXPORT_BATCH) -> Iterator[ExportRecord]:
    """Conversations newest first, read in keyset batches (three queries per batch) so an
    export of any size streams in constant memory."""
    from services.feedback import feedback_for
    from services.sessions import end_user_external_ids

    cursor: str | None = None
    while True:
        page = paginate(conversation_query(org, filters), Conversation, limit=batch_size,
                        cursor=cursor)
        ids = [c.id for c in page.items]
        messages = _messages_for(org, ids)
        feedback = feedback_for(org, ids)
        channels = dict(db.session.execute(
            select(Session.id, Session.channel).where(
                Session.org_id == org.id,
                Session.id.in_({c.session_id for c in page.items}))).all()) if ids else {}
        externals = end_user_external_ids(
            org, {c.end_user_id for c in page.items if c.end_user_id})
        for conv in page.items:
            yield ExportRecord(conv, messages[conv.id], feedback[conv.id],
                               channels.get(conv.session_id),
                               externals.get(conv.end_user_id or ""))
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _messages_for(org: Organization, conversation_ids: list[str]) -> dict[str, list[Message]]:
    return grouped_for_org(Message, org, Message.conversation_id, conversation_ids)
