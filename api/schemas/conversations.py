"""Conversation, message, feedback and export shapes (SPEC §6)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from api.schemas.common import IsoDateTime, ListQuery, Strict, Timestamp


class ConversationCreate(Strict):
    session_id: str = Field(..., max_length=80)
    assistant_id: str | None = Field(None, max_length=80,
                                     description="Defaults to the session's assistant.")
    metadata: dict[str, Any] | None = None


class ConversationFilterFields(BaseModel):
    session_id: str | None = Field(None, max_length=80)
    assistant_id: str | None = Field(None, max_length=80)
    since: IsoDateTime | None = Field(None, description="ISO 8601; inclusive (UTC if no zone).")
    until: IsoDateTime | None = Field(None, description="ISO 8601; exclusive (UTC if no zone).")
    rating_max: int | None = Field(None, ge=1, le=5, description="Conversations with a "
                                   "rating at most this (1 or 2: the unhappy ones).")
    answer_type: Literal["qa_match", "extractive", "generative", "no_answer"] | None = Field(
        None, description="Conversations with a reply of this type (no_answer: an "
        "\"I don't know\").")
    grounded: bool | None = Field(None, description="Conversations with a reply that was "
                                  "grounded (true) or not grounded (false).")
    q: str | None = Field(None, min_length=1, max_length=200,
                          description="Text in any message, case-insensitive.")
    external_id: str | None = Field(None, max_length=255,
                                    description="The end user's id in your systems.")
    channel: str | None = Field(None, max_length=64, description="The session's channel.")


class ConversationListQuery(ListQuery, ConversationFilterFields):
    pass


class ExportQuery(Strict, ConversationFilterFields):
    format: Literal["jsonl", "csv"] = Field(
        "jsonl", description="jsonl: one conversation per line with messages and feedback; "
                             "csv: one row per message.")


class ConversationOut(BaseModel):
    id: str
    session_id: str
    assistant_id: str
    assistant_version: int
    end_user_id: str | None
    metadata: dict[str, Any]
    message_count: int
    last_message_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, c) -> "ConversationOut":  # noqa: ANN001 - ORM row
        return cls(id=c.id, session_id=c.session_id, assistant_id=c.assistant_id,
                   assistant_version=c.assistant_version, end_user_id=c.end_user_id,
                   metadata=c.meta or {}, message_count=c.message_count,
                   last_message_at=c.last_message_at, created_at=c.created_at,
                   updated_at=c.updated_at)


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageCreate(Strict):
    content: str = Field(..., min_length=1, max_length=8000)

    @field_validator("content")
    @classmethod
    def _content(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("NUL characters are not allowed.")
        if not v.strip():
            raise ValueError("The message cannot be blank.")
        return v


class MessageQuery(Strict):
    stream: bool | None = Field(
        None, description="true: answer as Server-Sent Events (text/event-stream), as "
                          "`Accept: text/event-stream` does; false: JSON whatever Accept says.")


class Citation(BaseModel):
    source_id: str
    chunk_id: str
    title: str
    score: float


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    role: Literal["user", "assistant"]
    content: str
    citations: list[Citation]
    reply_to_id: str | None
    assistant_version: int | None
    model: str | None
    latency_ms: int | None
    input_tokens: int | None
    output_tokens: int | None
    grounded: bool | None
    answer_type: str | None = Field(
        None, description="qa_match | extractive | generative | no_answer (replies only)")
    status: Literal["complete", "truncated", "incomplete"] = Field(
        "complete", description="complete; truncated: cut by the model's token limit after "
        "its continuations; incomplete: the stream stopped early (the client disconnected "
        "or the model failed mid-reply) and the content is what was delivered.")
    status_reason: str | None = Field(
        None, description="Why a reply is not complete: max_tokens | context_window | "
        "client_disconnected | llm_error:<cause> | internal_error.")
    fallback_reason: str | None = Field(
        None, description="Set when the local engine answered because the model failed: "
        "the cause (timeout, authentication, model_not_found, overloaded, ...).")
    created_at: Timestamp

    @classmethod
    def of(cls, m) -> "MessageOut":  # noqa: ANN001 - ORM row
        return cls(id=m.id, conversation_id=m.conversation_id, role=m.role, content=m.content,
                   citations=m.citations or [], reply_to_id=m.reply_to_id,
                   assistant_version=m.assistant_version, model=m.model,
                   latency_ms=m.latency_ms, input_tokens=m.input_tokens,
                   output_tokens=m.output_tokens, grounded=m.grounded,
                   answer_type=m.answer_type, status=m.status or "complete",
                   status_reason=m.status_reason, fallback_reason=m.fallback_reason,
                   created_at=m.created_at)


class MessageExchange(BaseModel):
    message: MessageOut
    reply: MessageOut


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class FeedbackActor(BaseModel):
    """Who rates; extra attributes (e.g. team, locale) are kept."""

    model_config = ConfigDict(extra="allow")

    type: Literal["customer", "agent", "system"]
    id: str | None = Field(None, max_length=255)
    name: str | None = Field(None, max_length=200)


def _json_integer(value: Any) -> Any:
    """JSON Schema counts 4.0 as the integer 4; strings and booleans stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class FeedbackCreate(Strict):
    rating: Annotated[int, BeforeValidator(_json_integer)] = Field(..., ge=1, le=5, strict=True)
    comment: str | None = Field(None, max_length=4000)
    message_id: str | None = Field(None, max_length=80,
                                   description="A message of this conversation.")
    actor: FeedbackActor


class FeedbackOut(BaseModel):
    id: str
    conversation_id: str
    message_id: str | None
    assistant_id: str
    assistant_version: int | None
    rating: int
    comment: str | None
    actor: dict[str, Any]
    source_ids: list[str]
    created_at: Timestamp

    @classmethod
    def of(cls, f) -> "FeedbackOut":  # noqa: ANN001 - ORM row
        return cls(id=f.id, conversation_id=f.conversation_id, message_id=f.message_id,
                   assistant_id=f.assistant_id, assistant_version=f.assistant_version,
                   rating=f.rating, comment=f.comment, actor=f.actor or {},
                   source_ids=f.source_ids or [], created_at=f.created_at)


class FeedbackPage(BaseModel):
    items: list[FeedbackOut]
    next_cursor: str | None


class CorrectionCreate(Strict):
    answer: str = Field(..., min_length=1, max_length=20000,
                        description="The right answer, as the assistant should give it.")
    question: str | None = Field(None, min_length=1, max_length=2000, description="Default: "
                                 "the customer message the reply answered.")


class CorrectionOut(BaseModel):
    id: str = Field(..., description="The Q&A source made (kq_…).")
    message_id: str
    conversation_id: str
    question: str
    answer: str
    status: Literal["queued", "processing", "ready", "failed"]
    job_id: str | None
    duplicate: bool = Field(..., description="The organization already had this very pair; "
                            "it is now linked to the reply too.")
    feedback_ids: list[str] = Field(..., description="Feedback given on the corrected reply.")
    created_at: Timestamp

    @classmethod
    def of(cls, c) -> "CorrectionOut":  # noqa: ANN001 - services.corrections.Correction
        s = c.source
        return cls(id=s.id, message_id=c.message.id, conversation_id=c.message.conversation_id,
                   question=s.question or "", answer=s.answer or "", status=s.status,
                   job_id=s.last_job_id, duplicate=c.duplicate, feedback_ids=c.feedback_ids,
                   created_at=s.created_at)
