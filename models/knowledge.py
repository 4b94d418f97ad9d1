"""Knowledge sources (files, Q&A pairs, URLs) and their chunks."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import OrgScoped, Timestamps
from models.types import JSONType, UTCDateTime, utcnow

SOURCE_KINDS = ("file", "qa", "url")
SOURCE_STATUSES = ("queued", "processing", "ready", "failed")
KIND_PREFIX = {"file": "kf", "qa": "kq", "url": "ku"}


class KnowledgeSource(OrgScoped, Timestamps, db.Model):
    """One source of knowledge. Its chunks are the last good extraction: a failed
    re-process keeps them serving (`indexed_at` says when they were made)."""

    __tablename__ = "knowledge_sources"
    __table_args__ = (
        Index("ix_knowledge_sources_org_created", "org_id", "created_at"),
        Index("ix_knowledge_sources_org_kind_created", "org_id", "kind", "created_at"),
        Index("ix_knowledge_sources_org_sha", "org_id", "content_sha256"),
        # One source per content and kind, for files and Q&A pairs: concurrent identical
        # uploads or pairs cannot both insert. Not URLs: two addresses may serve one page.
        Index("uq_knowledge_sources_org_kind_sha", "org_id", "kind", "content_sha256",
              unique=True, sqlite_where=text("kind IN ('file', 'qa')"),
              postgresql_where=text("kind IN ('file', 'qa')")),
    )
    not_found_message = "Knowledge source not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    keywords: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    enrichment_engine: Mapped[str | None] = mapped_column(String(40))
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    embedding_model: Mapped[str | None] = mapped_column(String(100))
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(12))  # ISO 639-1, detected
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_job_id: Mapped[str | None] = mapped_column(String(40))
    # kind = file
    filename: Mapped[str | None] = mapped_column(String(300))
    file_type: Mapped[str | None] = mapped_column(String(16))
    byte_size: Mapped[int | None] = mapped_column(BigInteger)
    storage_key: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    # kind = url
    url: Mapped[str | None] = mapped_column(String(2048))
    final_url: Mapped[str | None] = mapped_column(String(2048))
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # kind = qa
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    # A Q&A pair made to correct an assistant reply (SPEC §11): the reply it corrects.
    corrects_message_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("messages.id", ondelete="SET NULL",
                               name="fk_knowledge_sources_corrects_message"), index=True)


class KnowledgeChunk(OrgScoped, db.Model):
    """A retrievable passage; `vector_id` is its id in the organization's FAISS index."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (Index("ix_knowledge_chunks_source_position", "source_id", "position"),)
    not_found_message = "Chunk not found."

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("knowledge_sources.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    provenance: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    token_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    vector_id: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    embedding_model: Mapped[str] = mapped_column(String(100), nullable=False)
    embedding_dim: Mapped[int] = mapped_column(Integer, nullable=False)
    language: Mapped[str | None] = mapped_column(String(12))  # its analyzer (stemming)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class SentenceVector(OrgScoped, db.Model):
    """One sentence of the organization's knowledge embedded on its own, found by its
    digest (services.knowledge.sentence_vectors): search scores a passage by its closest
    sentence, and the answer engine picks sentences without encoding them again."""

    __tablename__ = "sentence_vectors"

    # sha256 of (organization, model, sentence): one row per sentence and model in an
    # organization, whatever chunks hold it
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # float16, normalized
