"""`/api/v1/conversations/` — conversations, messages with grounded replies, feedback and
export (SPEC §6)."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from flask import Blueprint, Response, stream_with_context

from api.auth import current_org
from api.endpoint import endpoint
from api.schemas.conversations import (
    ConversationCreate,
    ConversationListQuery,
    ConversationOut,
    ConversationPage,
    CorrectionCreate,
    CorrectionOut,
    ExportQuery,
    FeedbackCreate,
    FeedbackOut,
    FeedbackPage,
    MessageCreate,
    MessageExchange,
    MessageOut,
    MessagePage,
    MessageQuery,
)
from api.schemas.common import ListQuery
from api.streaming import SSE_DOC, SSE_MIMETYPE, sse_response, wants_stream
from models.types import isoformat
from services import conversations as svc
from services import corrections as corrections_svc
from services import feedback as feedback_svc
from services.conversations import ConversationFilters, ExportRecord

bp = Blueprint("conversations", __name__, url_prefix="/api/v1/conversations")
TAGS = ["Conversations"]


def _filters(query: ConversationListQuery | ExportQuery) -> ConversationFilters:
    return ConversationFilters(session_id=query.session_id, assistant_id=query.assistant_id,
                               since=query.since, until=query.until,
                               rating_max=query.rating_max, answer_type=query.answer_type,
                               grounded=query.grounded, q=query.q,
                               external_id=query.external_id, channel=query.channel)


@bp.post("/", strict_slashes=False)
@endpoint(summary="Start a conversation in an active session", tags=TAGS,
          body=ConversationCreate, response=ConversationOut, status=201,
          errors=(404, 409, 410, 422))
def create(body: ConversationCreate) -> ConversationOut:
    conversation = svc.create_conversation(current_org(), session_id=body.session_id,
                                           assistant_id=body.assistant_id,
                                           metadata=body.metadata)
    return ConversationOut.of(conversation)


@bp.get("/", strict_slashes=False)
@endpoint(summary="List conversations, newest first", tags=TAGS, query=ConversationListQuery,
          response=ConversationPage)
def list_(query: ConversationListQuery) -> ConversationPage:
    page = svc.list_conversations(current_org(), _filters(query), limit=query.limit,
                                  cursor=query.cursor)
    return ConversationPage(items=[ConversationOut.of(c) for c in page.items],
                            next_cursor=page.next_cursor)


# Registered before /<conversation_id> so "export" is never taken for an id.
@bp.get("/export")
@endpoint(summary="Stream conversations with messages and feedback as JSON Lines or CSV",
          tags=TAGS, query=ExportQuery,
          media={"application/x-ndjson": {"type": "string"}, "text/csv": {"type": "string"}})
def export(query: ExportQuery) -> Response:
    org = current_org()
    records = svc.iter_export(org, _filters(query))
    if query.format == "csv":
        body, mimetype = _csv_lines(records), "text/csv"
    else:
        body, mimetype = _jsonl_lines(records), "application/x-ndjson"
    resp = Response(stream_with_context(body), mimetype=mimetype)
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="conversations.{query.format}"')
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/<conversation_id>")
@endpoint(summary="Get a conversation", tags=TAGS, response=ConversationOut, errors=(404,))
def get(conversation_id: str) -> ConversationOut:
    return ConversationOut.of(svc.get_conversation(current_org(), conversation_id))


@bp.post("/<conversation_id>/messages")
@endpoint(summary="Send a message; the reply is grounded in the assistant's knowledge "
                  "(JSON, or streamed as Server-Sent Events)",
          tags=TAGS, body=MessageCreate, query=MessageQuery, response=MessageExchange,
          status=201, errors=(404, 409, 410, 422, 502), media={SSE_MIMETYPE: SSE_DOC})
def post_message(conversation_id: str, body: MessageCreate,
                 query: MessageQuery) -> MessageExchange | Response:
    if wants_stream(query.stream):
        events = svc.stream_message(current_org(), conversation_id, body.content)
        return sse_response(events, _exchange_json, status=201)
    question, reply = svc.post_message(current_org(), conversation_id, body.content)
    return _exchange(question, reply)


def _exchange(question: object, reply: object) -> MessageExchange:
    return MessageExchange(message=MessageOut.of(question), reply=MessageOut.of(reply))


def _exchange_json(question: object, reply: object) -> dict:
    return _exchange(question, reply).model_dump(mode="json")


@bp.get("/<conversation_id>/messages")
@endpoint(summary="List a conversation's messages, oldest first", tags=TAGS,
          query=ListQuery, response=MessagePage, errors=(404,))
def messages(conversation_id: str, query: ListQuery) -> MessagePage:
    page = svc.list_messages(current_org(), conversation_id, limit=query.limit,
                             cursor=query.cursor)
    return MessagePage(items=[MessageOut.of(m) for m in page.items],
                       next_cursor=page.next_cursor)


@bp.post("/<conversation_id>/feedback")
@endpoint(summary="Rate a conversation or one of its messages", tags=TAGS,
          body=FeedbackCreate, response=FeedbackOut, status=201, errors=(404, 422))
def create_feedback(conversation_id: str, body: FeedbackCreate) -> FeedbackOut:
    data = body.model_dump(exclude_none=True)
    data["actor"] = body.actor.model_dump(exclude_none=True)
    return FeedbackOut.of(feedback_svc.create_feedback(current_org(), conversation_id, data))


@bp.post("/<conversation_id>/messages/<message_id>/corrections")
@endpoint(summary="Correct a reply: the right answer becomes a Q&A pair for its question",
          tags=TAGS, body=CorrectionCreate, response=CorrectionOut, status=201,
          errors=(404, 422))
def create_correction(conversation_id: str, message_id: str,
                      body: CorrectionCreate) -> CorrectionOut:
    return CorrectionOut.of(corrections_svc.correct(
        current_org(), conversation_id, message_id, answer=body.answer,
        question=body.question))


@bp.get("/<conversation_id>/feedback")
@endpoint(summary="List a conversation's feedback, newest first", tags=TAGS,
          query=ListQuery, response=FeedbackPage, errors=(404,))
def list_feedback(conversation_id: str, query: ListQuery) -> FeedbackPage:
    page = feedback_svc.list_feedback(current_org(), conversation_id, limit=query.limit,
                                      cursor=query.cursor)
    return FeedbackPage(items=[FeedbackOut.of(f) for f in page.items],
                        next_cursor=page.next_cursor)


def _jsonl_lines(records: Iterator[ExportRecord]) -> Iterator[str]:
    for rec in records:
        item = ConversationOut.of(rec.conversation).model_dump(mode="json")
        item["channel"] = rec.channel
        item["external_id"] = rec.external_id
        item["messages"] = []
        for m in rec.messages:
            msg = MessageOut.of(m).model_dump(mode="json")
            msg["retrieval"] = m.retrieval or []
            item["messages"].append(msg)
        item["feedback"] = [FeedbackOut.of(f).model_dump(mode="json") for f in rec.feedback]
        yield json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"


CSV_COLUMNS = (
    "conversation_id", "session_id", "assistant_id", "conversation_assistant_version",
    "channel", "external_id", "conversation_created_at", "feedback_count",
    "feedback_mean_rating", "message_id", "message_created_at", "role", "content",
    "reply_assistant_version", "model", "latency_ms", "answer_type", "cited_source_ids",
    "message_ratings",
)


def _cell(value: object) -> object:
    """Spreadsheet apps execute cells starting with = + - @: quote them as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_lines(records: Iterator[ExportRecord]) -> Iterator[str]:
    """One row per message; a conversation without messages still gets one row."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def flush() -> str:
        out = buf.getvalue()
        buf.seek(0)
        buf.truncate(0)
        return out

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for rec in records:
        c = rec.conversation
        ratings = [f.rating for f in rec.feedback]
        mean = round(sum(ratings) / len(ratings), 2) if ratings else ""
        head = [c.id, c.session_id, c.assistant_id, c.assistant_version, rec.channel or "",
                rec.external_id or "", isoformat(c.created_at), len(ratings), mean]
        by_message: dict[str, list[str]] = {}
        for f in rec.feedback:
            if f.message_id:
                by_message.setdefault(f.message_id, []).append(str(f.rating))
        for m in rec.messages or [None]:
            if m is None:
                tail = [""] * 10
            else:
                sources = dict.fromkeys(cit["source_id"] for cit in m.citations or [])
                latency = "" if m.latency_ms is None else m.latency_ms
                tail = [m.id, isoformat(m.created_at), m.role, m.content,
                        m.assistant_version or "", m.model or "", latency,
                        m.answer_type or "", ";".join(sources),
                        ";".join(by_message.get(m.id, []))]
            writer.writerow([_cell(v) for v in head + tail])
        yield flush()
