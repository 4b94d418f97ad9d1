"""Knowledge request and response shapes (SPEC §4)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, field_validator

from api.schemas.common import ListQuery, Strict, Timestamp


class SourceOut(BaseModel):
    id: str
    kind: Literal["file", "qa", "url"]
    title: str
    status: Literal["queued", "processing", "ready", "failed"]
    error: str | None
    summary: str
    keywords: list[str]
    chunk_count: int
    embedding_model: str | None
    language: str | None = Field(
        None, description="ISO 639-1 code identified from the content ('und' when unknown);"
                          " the full-text index stems the source in this language.")
    content_sha256: str | None
    created_at: Timestamp
    updated_at: Timestamp
    indexed_at: Timestamp | None
    job_id: str | None = Field(None, description="The latest processing job.")
    # kind-specific
    filename: str | None = None
    file_type: str | None = None
    byte_size: int | None = None
    metadata: dict = Field(default_factory=dict)
    url: str | None = None
    final_url: str | None = None
    fetched_at: Timestamp | None = None
    question: str | None = None
    answer: str | None = None
    tags: list[str] = Field(default_factory=list)
    corrects_message_id: str | None = Field(
        None, description="Q&A pairs made by a correction: the assistant reply corrected.")

    @classmethod
    def of(cls, s, **extra: Any) -> "SourceOut":  # noqa: ANN001 - ORM row
        return cls(**extra,
            id=s.id, kind=s.kind, title=s.title, status=s.status, error=s.error,
            summary=s.summary or "", keywords=list(s.keywords or []),
            chunk_count=s.chunk_count, embedding_model=s.embedding_model,
            language=s.language, content_sha256=s.content_sha256, created_at=s.created_at,
            updated_at=s.updated_at, indexed_at=s.indexed_at, job_id=s.last_job_id,
            filename=s.filename, file_type=s.file_type, byte_size=s.byte_size,
            metadata=dict(s.details or {}), url=s.url, final_url=s.final_url,
            fetched_at=s.fetched_at, question=s.question, answer=s.answer,
            corrects_message_id=s.corrects_message_id,
            tags=list(s.tags or []))


class SourceAccepted(SourceOut):
    duplicate: bool = Field(False, description="Identical content already existed; this is "
                                               "the existing source and nothing was queued.")


class BulkAccepted(BaseModel):
    items: list[SourceAccepted]
    job_id: str | None = Field(None, description="The one job processing the new sources "
                                                 "(null when every one already existed).")


class FileBulkOut(BulkAccepted):
    """Several files uploaded in one request."""


class SourcePage(BaseModel):
    items: list[SourceOut]
    next_cursor: str | None


class SourceListQuery(ListQuery):
    status: Literal["queued", "processing", "ready", "failed"] | None = None


# Documents the rule services.knowledge.sources enforces (its message stays the one users see).
TAG_ITEMS = {"items": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": r"\S"}}


class QACreate(Strict):
    question: str = Field(..., min_length=1, max_length=2000)
    answer: str = Field(..., min_length=1, max_length=20000)
    tags: list[str] = Field(default_factory=list, max_length=20, json_schema_extra=TAG_ITEMS)


class QABulkCreate(Strict):
    items: list[QACreate] = Field(..., min_length=1, max_length=500)


class QACreateRequest(RootModel[QACreate | QABulkCreate |
                                Annotated[list[QACreate], Field(min_length=1, max_length=500)]]):
    """The body of POST /qas/ as documented: one pair, `{"items": [...]}` or a bare list."""


class QAUpdate(Strict):
    question: str | None = Field(None, min_length=1, max_length=2000)
    answer: str | None = Field(None, min_length=1, max_length=20000)
    tags: list[str] | None = Field(None, max_length=20, json_schema_extra=TAG_ITEMS)


class QABulkOut(BulkAccepted):
    """Several Q&A pairs created (or CSV-imported) in one request."""


class URLCreate(Strict):
    url: str = Field(..., min_length=1, max_length=2048)
    title: str | None = Field(None, max_length=300)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        v = v.strip()
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError("Only http and https URLs are accepted.")
        return v


class URLBulkOut(BaseModel):
    items: list[SourceOut]
    job_id: str


class URLBulkCreate(Strict):
    items: list[URLCreate] = Field(..., min_length=1, max_length=100)


class URLCreateRequest(RootModel[URLCreate | URLBulkCreate]):
    """The body of POST /urls/ as documented: one page, or `{"items": [...]}` (≤ 100)."""


class ReembedRequest(Strict):
    source_ids: list[str] | None = Field(None, max_length=10000)
    model: Literal["multilingual-e5-small", "intfloat/multilingual-e5-small",
                   "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"] | None = Field(
        None,
        description="Move the organization to this embedding model (e.g. "
                    "`multilingual-e5-small`, `all-MiniLM-L6-v2`): the new index is built "
                    "beside the serving one and switched when complete. Not with "
                    "`source_ids`: a model change moves every source.")


class JobAccepted(BaseModel):
    job_id: str
    status: str


class SearchRequest(Strict):
    query: str = Field(..., min_length=1, max_length=2000)
    assistant_id: str | None = Field(None, max_length=80)
    top_k: int = Field(5, ge=1, le=50)


class SearchHitOut(BaseModel):
    source_id: str
    kind: str
    title: str
    chunk_id: str
    text: str
    score: float
    provenance: dict = Field(default_factory=dict)


class SearchResponse(BaseModel):
    items: list[SearchHitOut]


class ChunkOut(BaseModel):
    id: str
    position: int
    text: str
    provenance: dict
    token_count: int
    embedding_model: str


class ChunkList(BaseModel):
    items: list[ChunkOut]
