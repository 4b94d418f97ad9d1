"""Processing a source: extract → chunk → enrich → embed → index, observable and exact.

The swap is ordered so every crash point leaves a consistent state: new vectors are added
to the index first (old ones still present), then one transaction replaces the chunk rows,
then the old vectors are removed. Retrieval only returns vectors whose chunk row exists, so
an orphan vector left by a crash is never served. A failure marks the source `failed` with
a readable reason and keeps its previous chunks serving.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import numpy as np
from flask import current_app
from sqlalchemy import delete, insert, select

from errors import AppError, Unprocessable
from extensions import db
from jobs.runner import TransientJobError
from models.ids import new_id
from models.jobs import Job
from models.knowledge import KnowledgeChunk, KnowledgeSource
from models.orgs import Organization
from models.types import utcnow
from services.knowledge import lexical, storage
from services.knowledge.chunking import Chunk, chunk_units
from services.knowledge.enrich import Enrichment, enrich, keywords_local
from services.knowledge.extract import ExtractLimits, TextUnit, extract
from services.knowledge.url_guard import GuardedFetcher
from services.knowledge.vectors import embedder_dim, embedder_for_app, vector_store
from services.knowledge.webpage import extract_main_text

log = logging.getLogger("companin.knowledge")
ENRICH_CHARS = 40_000


@dataclass
class Extraction:
    units: list[TextUnit]
    sha256: str
    details: dict[str, Any]
    title: str | None = None


def process_sources(job: Job, progress: Callable[[int], None]) -> None:
    """Job function: process every source named by the job, one after another."""
    ids = job.params.get("source_ids") or ([job.target_id] if job.target_id else [])
    failures = []
    for n, source_id in enumerate(ids):
        def sub_progress(pct: int, n: int = n) -> None:
            progress(int((n + pct / 100) * 100 / len(ids)))

        try:
            process_one(job, source_id, sub_progress, refresh=bool(job.params.get("refresh")))
        except AppError as exc:
            if len(ids) == 1 and exc.details.get("transient") and _retry_left(job):
                _mark_retrying(job.org_id, source_id, exc.message)
                raise TransientJobError(exc.message) from exc
            failures.append(f"{source_id}: {exc.message}")
    if failures:
        raise Unprocessable("; ".join(failures)[:2000], code="processing_failed")


def _retry_left(job: Job) -> bool:
    """RQ retries with backoff (JOB_RETRY_INTERVALS); other modes fail at once."""
    return (current_app.config["JOBS_MODE"] == "rq"
            and job.attempts <= len(current_app.config["JOB_RETRY_INTERVALS"]))


def _mark_retrying(org_id: str, source_id: str, message: str) -> None:
    source = db.session.get(KnowledgeSource, source_id)
    if source is not None and source.org_id == org_id:
        source.status, source.error = "queued", f"Temporary failure, retrying: {message}"
        db.session.commit()


def process_one(job: Job, source_id: str, progress: Callable[[int], None], *,
                refresh: bool = False) -> None:
    org = db.session.get(Organization, job.org_id)
    source = KnowledgeSource.get_for_org(source_id, org)
    source.status, source.error, source.last_job_id = "processing", None, job.id
    db.session.commit()
    try:
        extraction = _extract(source)
        progress(25)
        if (source.kind == "url" and source.indexed_at is not None
                and extraction.sha256 == source.content_sha256):
            # Unchanged page: nothing to re-embed, the index stays as it is.
            source.status, source.fetched_at = "ready", utcnow()
            source.details = {**(source.details or {}), "unchanged_refreshes":
                              int((source.details or {}).get("unchanged_refreshes", 0)) + 1}
            db.session.commit()
            return
        chunks = chunk_units(extraction.units)
        if not chunks:
            raise Unprocessable("No text could be extracted from this source.",
                                code="no_text")
        enrichment = _enrich(org, source, chunks)
        progress(50)
        embedder = embedder_for_app()
        vectors = embedder.encode([c.text for c in chunks])
        progress(85)
        _swap_chunks(org, source, chunks, vectors, extraction, enrichment,
                     model=current_app.config["EMBEDDING_MODEL"], dim=embedder_dim(embedder))
        progress(100)
    except AppError as exc:
        db.session.rollback()
        _mark_failed(org, source_id, exc.message)
        raise
    except Exception as exc:
        db.session.rollback()
        log.exception("processing %s failed", source_id)
        _mark_failed(org, source_id, f"Processing failed unexpectedly ({type(exc).__name__}).")
        raise


def _mark_failed(org: Organization, source_id: str, message: str) -> None:
    source = db.session.get(KnowledgeSource, source_id)
    if source is None or source.org_id != org.id:
        return
    source.status, source.error = "failed", message[:2000]
    db.session.commit()


def _extract(source: KnowledgeSource) -> Extraction:
    cfg = current_app.config
    if source.kind == "file":
        data = storage.get(source.storage_key)
        extracted = extract(data, source.file_type, ExtractLimits())
        return Extraction(extracted.units, storage.sha256_hex(data), extracted.metadata)
    if source.kind == "qa":
        text = f"Q: {source.question}\nA: {source.answer}"
        return Extraction([TextUnit(text=text, provenance={"qa": True})],
                          storage.sha256_hex((source.question + "\n" + source.answer).encode()),
                          {})
    fetcher = GuardedFetcher(allow_loopback=cfg["URL_FETCH_ALLOW_LOOPBACK"],
                             timeout=cfg["URL_FETCH_TIMEOUT_SECONDS"],
                             max_bytes=cfg["URL_FETCH_MAX_BYTES"])
    fetched = fetcher.fetch(source.url)
    title, text = extract_main_text(fetched.body, fetched.final_url)
    source.final_url, source.fetched_at = fetched.final_url, utcnow()
    if title and (not source.title or source.title == source.url):
        source.title = title[:300]
    return Extraction([TextUnit(text=text, provenance={"url": fetched.final_url})],
                      storage.sha256_hex(text.encode()),
                      {"content_type": fetched.content_type, "status": fetched.status},
                      title)


def _enrich(org: Organization, source: KnowledgeSource, chunks: list[Chunk]) -> Enrichment:
    if source.kind == "qa":
        # The pair is its own summary; keywords from the question and answer.
        return Enrichment(summary=source.answer[:600],
                          keywords=keywords_local(f"{source.question}. {source.answer}", top=8),
                          engine="local", model="local")
    cfg = current_app.config
    text = "\n".join(c.text for c in chunks)[:ENRICH_CHARS]
    model = (org.task_models or {}).get("summarize") or cfg["DEFAULT_SUMMARIZE_MODEL"]
    return enrich(text, anthropic_api_key=cfg["ANTHROPIC_API_KEY"], model=model,
                  base_url=cfg["ANTHROPIC_BASE_URL"])


def new_vector_ids(n: int) -> np.ndarray:
    """Random positive 62-bit ids: unique across processes without a shared sequence."""
    return np.array([secrets.randbits(62) + 1 for _ in range(n)], dtype=np.int64)


def _swap_chunks(org: Organization, source: KnowledgeSource, chunks: list[Chunk],
                 vectors: np.ndarray, extraction: Extraction, enrichment: Enrichment, *,
                 model: str, dim: int) -> None:
    store = vector_store()
    old_ids = list(db.session.execute(
        select(KnowledgeChunk.vector_id).where(KnowledgeChunk.source_id == source.id)).scalars())
    ids = new_vector_ids(len(chunks))
    store.add(org.id, ids, vectors)  # 1. new vectors in (old still present)
    now = utcnow()
    rows = [{"id": new_id("chk"), "org_id": org.id, "source_id": source.id,
             "position": c.position, "text": c.text, "provenance": c.provenance,
             "token_count": c.token_count, "vector_id": int(vid), "embedding_model": model,
             "embedding_dim": dim, "created_at": now}
            for c, vid in zip(chunks, ids, strict=True)]
    try:  # 2. one transaction swaps the rows
        lexical.remove_source(org.id, source.id)
        db.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source.id))
        db.session.execute(insert(KnowledgeChunk), rows)
        lexical.index_chunks(rows)
        source.status, source.error = "ready", None
        source.summary, source.keywords = enrichment.summary, list(enrichment.keywords)
        source.enrichment_engine = enrichment.engine
        source.chunk_count, source.embedding_model, source.embedding_dim = len(rows), model, dim
        source.content_sha256, source.indexed_at = extraction.sha256, now
        source.details = {**(source.details or {}), **_jsonable(extraction.details)}
        db.session.commit()
    except Exception:
        db.session.rollback()
        store.remove(org.id, ids)
        raise
    if old_ids:  # 3. old vectors out
        store.remove(org.id, old_ids)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in details.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)):
            out[k] = [x if isinstance(x, (str, int, float, bool)) else str(x) for x in v][:200]
        else:
            out[k] = str(v)[:500]
    return out


def reembed(job: Job, progress: Callable[[int], None]) -> None:
    """Recompute every chunk's embedding (e.g. after a model change) and rebuild the index."""
    org = db.session.get(Organization, job.org_id)
    wanted = job.params.get("source_ids")
    stmt = select(KnowledgeChunk).where(KnowledgeChunk.org_id == org.id)
    if wanted:
        stmt = stmt.where(KnowledgeChunk.source_id.in_(wanted))
    chunks = list(db.session.execute(stmt.order_by(KnowledgeChunk.source_id,
                                                   KnowledgeChunk.position)).scalars())
    embedder = embedder_for_app()
    model, dim = current_app.config["EMBEDDING_MODEL"], embedder_dim(embedder)
    batch, done = 256, 0
    all_ids, all_vecs = [], []
    for start in range(0, len(chunks), batch):
        part = chunks[start:start + batch]
        all_vecs.append(embedder.encode([c.text for c in part]))
        all_ids.extend(c.vector_id for c in part)
        done += len(part)
        progress(int(done * 90 / max(1, len(chunks))))
    store = vector_store()
    if all_ids:
        ids = np.array(all_ids, dtype=np.int64)
        vecs = np.concatenate(all_vecs)
        if wanted:
            store.add(org.id, ids, vecs)
        else:
            store.rebuild(org.id, ids, vecs)
    elif not wanted:
        store.rebuild(org.id, np.zeros((0,), dtype=np.int64), np.zeros((0, dim), np.float32))
    for c in chunks:
        c.embedding_model, c.embedding_dim = model, dim
    touched = {c.source_id for c in chunks}
    for source in db.session.execute(select(KnowledgeSource).where(
            KnowledgeSource.org_id == org.id, KnowledgeSource.id.in_(touched))).scalars():
        source.embedding_model, source.embedding_dim, source.indexed_at = model, dim, utcnow()
    db.session.commit()
