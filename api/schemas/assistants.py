"""Assistant request and response shapes (SPEC §3)."""
from __future__ import annotations

import re
from typing import Literal

import langcodes
from pydantic import BaseModel, Field, field_validator

from api.schemas.common import Strict, Timestamp, attribute_map
from api.schemas.conversations import Citation

_TASK_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _check_language(value: str) -> str:
    if not langcodes.tag_is_valid(value):
        raise ValueError("Use a BCP 47 language tag such as 'it', 'en' or 'en-US'.")
    return langcodes.standardize_tag(value)


# What _check_task_models enforces, stated in the OpenAPI document too.
TASK_MODELS_SCHEMA = {
    "maxProperties": 20,
    "propertyNames": {"pattern": _TASK_KEY.pattern},
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 100,
                             "pattern": r"\S"},
}


def _check_task_models(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 20:
        raise ValueError("At most 20 task models.")
    for key, model in value.items():
        if not _TASK_KEY.match(key):
            raise ValueError(f"Task name {key!r} must be lowercase letters, digits or _.")
        if not isinstance(model, str) or not 1 <= len(model.strip()) <= 100:
            raise ValueError(f"Model for {key!r} must be 1 to 100 characters.")
    return {k: v.strip() for k, v in value.items()}


class AssistantConfigFields(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    tone: str | None = Field(None, max_length=200)
    language: str | None = Field(None, max_length=35)
    instructions: str | None = Field(None, max_length=20000)
    task_models: dict[str, str] | None = Field(None, json_schema_extra=TASK_MODELS_SCHEMA)

    @field_validator("language")
    @classmethod
    def _lang(cls, v: str | None) -> str | None:
        return None if v is None else _check_language(v)

    @field_validator("task_models")
    @classmethod
    def _tasks(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return None if v is None else _check_task_models(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("Name cannot be blank.")
        return None if v is None else v.strip()


class AssistantCreate(AssistantConfigFields):
    name: str = Field(..., min_length=1, max_length=200)
    language: str = Field("en", max_length=35)
    is_active: bool = True
    promotion_requires_passing_tests: bool = Field(
        False, description="Promoting a version needs its latest evaluation to pass.")


class AssistantUpdate(AssistantConfigFields):
    is_active: bool | None = None
    promotion_requires_passing_tests: bool | None = None
    promote: bool = False
    note: str | None = Field(None, max_length=500, description="Why this version was made.")


class KnowledgeScope(Strict):
    mode: Literal["all", "linked"] = "all"
    linked: list[str] = Field(default_factory=list, max_length=1000)
    excluded: list[str] = Field(default_factory=list, max_length=1000)


class AssistantOut(BaseModel):
    id: str
    name: str
    description: str
    tone: str
    language: str
    instructions: str
    task_models: dict[str, str]
    is_active: bool
    live_version: int
    latest_version: int
    knowledge: KnowledgeScope
    promotion_requires_passing_tests: bool = False
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, a) -> "AssistantOut":  # noqa: ANN001 - ORM row
        return cls(
            id=a.id, name=a.name, description=a.description, tone=a.tone, language=a.language,
            instructions=a.instructions, task_models=a.task_models or {},
            is_active=a.is_active, live_version=a.live_version,
            latest_version=a.latest_version,
            knowledge=KnowledgeScope(mode=a.knowledge_mode, linked=a.knowledge_linked or [],
                                     excluded=a.knowledge_excluded or []),
            promotion_requires_passing_tests=a.promotion_requires_passing_tests,
            created_at=a.created_at, updated_at=a.updated_at,
        )


class VersionOut(BaseModel):
    assistant_id: str
    number: int
    is_live: bool
    name: str
    description: str
    tone: str
    language: str
    instructions: str
    task_models: dict[str, str]
    note: str
    created_at: Timestamp

    @classmethod
    def of(cls, v, live_version: int) -> "VersionOut":  # noqa: ANN001 - ORM row
        return cls(
            assistant_id=v.assistant_id, number=v.number, is_live=v.number == live_version,
            name=v.name, description=v.description, tone=v.tone, language=v.language,
            instructions=v.instructions, task_models=v.task_models or {}, note=v.note,
            created_at=v.created_at,
        )


class AssistantPage(BaseModel):
    items: list[AssistantOut]
    next_cursor: str | None


class VersionPage(BaseModel):
    items: list[VersionOut]
    next_cursor: str | None


class PreviewTurn(Strict):
    role: Literal["user", "assistant"]
    content: str = Field(..., min_length=1, max_length=8000)


class PreviewCreate(Strict):
    content: str = Field(..., min_length=1, max_length=8000,
                         description="The question, as a customer would write it.")
    version: int | None = Field(None, ge=1, description="Default: the live version. Any "
                                "version answers, drafts included.")
    history: list[PreviewTurn] = Field(default_factory=list, max_length=20,
                                       description="Earlier turns, oldest first.")
    context: dict | None = attribute_map("Session context attributes, as a session's "
                                         "contexts would give them.")


class PreviewReply(BaseModel):
    content: str
    citations: list[Citation]
    assistant_version: int
    model: str
    answer_type: str = Field(..., description="qa_match | extractive | generative | no_answer")
    grounded: bool
    latency_ms: int
    status: Literal["complete", "truncated", "incomplete"] = "complete"
    fallback_reason: str | None = None


class TraceItem(BaseModel):
    source_id: str
    chunk_id: str
    title: str
    kind: str
    lexical_rank: int | None = Field(None, description="Place among the full-text "
                                     "candidates (1 = best); null: not found that way.")
    vector_rank: int | None = Field(None, description="Place among the vector candidates.")
    lexical_score: float | None
    vector_score: float | None
    score: float = Field(..., description="The final relevance score that orders results "
                         "and that the gate compares.")
    passed: bool = Field(..., description="Whether the score passes the relevance gate.")
    given_to_engine: bool = Field(..., description="Among the passages the answer engine "
                                  "was given.")
    text: str


class PreviewOut(BaseModel):
    reply: PreviewReply
    trace: list[TraceItem]

    @classmethod
    def of(cls, result) -> "PreviewOut":  # noqa: ANN001 - services.preview.Preview
        r = result.reply
        return cls(reply=PreviewReply(
            content=r.content, citations=r.citations, assistant_version=r.assistant_version,
            model=r.model, answer_type=r.answer_type, grounded=r.grounded,
            latency_ms=r.latency_ms, status=r.status, fallback_reason=r.fallback_reason),
            trace=[TraceItem(**t) for t in result.trace])


class TestCaseFields(Strict):
    question: str | None = Field(None, min_length=1, max_length=2000)
    expect_source_ids: list[str] | None = Field(
        None, max_length=20, description="Passes when the reply cites at least one of these.")
    expect_contains: str | None = Field(
        None, max_length=2000, description="Passes when the reply contains this text (case "
        "and accents ignored).")
    expect_no_answer: bool | None = Field(
        None, description="true: the reply must be \"I don't know\"; false: it must answer.")


class TestCaseCreate(TestCaseFields):
    question: str = Field(..., min_length=1, max_length=2000)


class TestCaseOut(BaseModel):
    id: str
    assistant_id: str
    question: str
    expect_source_ids: list[str]
    expect_contains: str | None
    expect_no_answer: bool | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, t) -> "TestCaseOut":  # noqa: ANN001 - ORM row
        return cls(id=t.id, assistant_id=t.assistant_id, question=t.question,
                   expect_source_ids=list(t.expect_source_ids or []),
                   expect_contains=t.expect_contains, expect_no_answer=t.expect_no_answer,
                   created_at=t.created_at, updated_at=t.updated_at)


class TestCasePage(BaseModel):
    items: list[TestCaseOut]
    next_cursor: str | None


class EvaluationCase(BaseModel):
    test_id: str
    question: str
    passed: bool
    reasons: list[str]
    reply: str
    answer_type: str
    citations: list[Citation]


class EvaluationOut(BaseModel):
    id: str
    assistant_id: str
    version: int
    status: Literal["queued", "running", "succeeded", "failed"]
    job_id: str | None
    total: int
    passed: int
    pass_rate: float | None = Field(..., description="Share of cases passed, once finished.")
    error: str | None
    cases: list[EvaluationCase]
    created_at: Timestamp
    finished_at: Timestamp | None

    @classmethod
    def of(cls, e) -> "EvaluationOut":  # noqa: ANN001 - ORM row
        return cls(id=e.id, assistant_id=e.assistant_id, version=e.version, status=e.status,
                   job_id=e.job_id, total=e.total, passed=e.passed, pass_rate=e.pass_rate,
                   error=e.error, cases=e.cases or [], created_at=e.created_at,
                   finished_at=e.finished_at)


class EvaluationPage(BaseModel):
    items: list[EvaluationOut]
    next_cursor: str | None
