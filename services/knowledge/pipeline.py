"""Processing a source: extract → chunk → enrich → embed → index, observable and exact.

The swap is ordered so every crash point leaves a consistent state: new vectors are added
to the index first (old ones still present), then one transaction replaces the chunk rows,
then the old vectors are removed. Retrieval only returns vectors whose chunk row exists, so
an orphan vector left by a crash is never served. A failure marks the source `failed` with
a readable reason and keeps its previous chunks serving.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import delete, insert, select, update

from errors import AppError, Unprocessable
from extensions import db
from services.jobs import TransientJobError, enqueue
from models.ids import new_id
from models.jobs import Job
from models.knowledge import KnowledgeChunk, KnowledgeSource
from models.orgs import Organization
from models.types import utcnow
from services.knowledge import lexical, sentence_vectors, storage
from services.knowledge.chunking import Chunk, chunk_units
from services.knowledge.enrich import Enrichment, enrich, keywords_local
from services.knowledge.extract import ExtractLimits, TextUnit, extract
from services.knowledge.url_guard import GuardedFetcher
from services.knowledge.embedder import canonical_name, get_embedder
from services.knowledge.language import detect
from services.knowledge.retrieval import forget_languages
from services.knowledge.vector_index import VectorIndexStore
from services.knowledge.vectors import (compact_when_due, default_model, embedder_dim,
                                        remove_everywhere, store_for)
from services.knowledge.webpage import extract_main_text

log = logging.getLogger("companin.knowledge")
ENRICH_CHARS = 40_000
BATCH_SOURCES = 64  # sources embedded and indexed together
INGEST_JOB = "ingest_source"
LANGUAGE_SAMPLE_CHARS = 5000


@dataclass
class Extraction:
    units: list[TextUnit]
    sha256: str
    details: dict[str, Any]
    title: str | None = None


def process_sources(job: Job, progress: Callable[[int], None]) -> None:
    """Job function: process every source named by the job, in batches.

    Each batch is extracted and chunked source by source (one source's failure fails that
    source only, with its reason), then embedded in one call and written to the index and
    the database once, so many small sources cost little more than their encoding."""
    ids = job.params.get("source_ids") or ([job.target_id] if job.target_id else [])
    refresh = bool(job.params.get("refresh"))
    org = db.session.get(Organization, job.org_id)
    if job.params.get("piece"):  # the next piece of a large source
        _run_pieces(org, job, ids[0], job.params["piece"], progress)
        return
    failures: list[str] = []
    large: list[Prepared] = []
    for start in range(0, len(ids), BATCH_SOURCES):
        batch = ids[start:start + BATCH_SOURCES]

        def batch_progress(pct: int, start: int = start, size: int = len(batch)) -> None:
            progress(int((start + size * pct / 100) * 100 / len(ids)))

        prepared = []
        for source_id in batch:
            try:
                item = _prepare(org, job, source_id, refresh=refresh,
                                progress=lambda pct, p=batch_progress: p(int(pct * 0.4)))
            except AppError as exc:
                db.session.rollback()
                if len(ids) == 1 and exc.details.get("transient") and _retry_left(job):
                    _mark_retrying(job.org_id, source_id, exc.message)
                    raise TransientJobError(exc.message) from exc
                _mark_failed(org, source_id, exc.message)
                failures.append(f"{source_id}: {exc.message}")
                continue
            except Exception as exc:
                db.session.rollback()
                log.exception("processing %s failed", source_id)
                _mark_failed(org, source_id,
                             f"Processing failed unexpectedly ({type(exc).__name__}).")
                if len(ids) == 1:
                    raise
                failures.append(f"{source_id}: {type(exc).__name__}")
                continue
            if item is not None and len(item.chunks) > current_app.config["INGEST_PIECE_CHUNKS"]:
                large.append(item)  # indexed piece by piece once the batch is done
            elif item is not None:
                prepared.append(item)
        batch_progress(40)
        if prepared:
            try:
                model = _index_batch(org, prepared, batch_progress)
            except Exception as exc:
                db.session.rollback()
                log.exception("indexing a batch of %d sources failed", len(prepared))
                message = _indexing_failure(exc)
                for item in prepared:
                    _mark_failed(org, item.source_id, message)
                if len(ids) == 1:
                    raise
                failures += [f"{item.source_id}: {message}" for item in prepared]
            else:
                sentence_vectors.fill_quietly(org.id, model,
                                              [item.source_id for item in prepared])
        batch_progress(100)
    for item in large:
        try:
            _start_pieces(org, job, item, progress)
        except Exception as exc:
            if len(ids) == 1:
                raise
            failures.append(f"{item.source_id}: {_indexing_failure(exc)}")
    forget_languages(org.id)
    if failures:
        raise Unprocessable("; ".join(failures)[:2000], code="processing_failed")


def _indexing_failure(exc: Exception) -> str:
    return (exc.message if isinstance(exc, AppError) else
            f"Indexing failed unexpectedly ({type(exc).__name__}).")


# ------------------------------------------------------------------ large sources, in pieces
def _staging_key(org_id: str, source_id: str, job_id: str) -> str:
    return f"{org_id}/staging/{source_id}.{job_id}.json"


def _start_pieces(org: Organization, job: Job, item: Prepared,
                  progress: Callable[[int], None]) -> None:
    """A source too big for one job: its chunks are staged in storage and indexed piece
    by piece, each job embedding for at most INGEST_PIECE_SECONDS and then queueing the
    next piece behind other work, so no job nears the timeout and no organization holds
    a worker for long. New chunks are searchable as their piece lands; the previous
    chunks (a re-processed source) go when the last piece does."""
    source = KnowledgeSource.get_for_org(item.source_id, org)
    old = db.session.execute(select(KnowledgeChunk.id, KnowledgeChunk.vector_id).where(
        KnowledgeChunk.org_id == org.id, KnowledgeChunk.source_id == source.id)).all()
    staged = {"language": item.language, "old_chunks": [cid for cid, _ in old],
              "old_vectors": [int(vid) for _, vid in old],
              "chunks": [[c.text, c.position, c.provenance, c.token_count]
                         for c in item.chunks]}
    key = _staging_key(org.id, source.id, job.id)
    storage.put_named(key, json.dumps(staged).encode())
    source.summary = item.enrichment.summary
    source.keywords = list(item.enrichment.keywords)
    source.enrichment_engine = item.enrichment.engine
    source.language = item.language
    source.details = {**(source.details or {}), **_jsonable(item.extraction.details),
                      "pieces": {"done": 0, "total": len(item.chunks)}}
    db.session.commit()
    _run_pieces(org, job, source.id, {"staging": key, "next": 0}, progress)


def _run_pieces(org: Organization, job: Job, source_id: str, piece: dict[str, Any],
                progress: Callable[[int], None]) -> None:
    """A piece that fails fails the source with its reason and takes its partial new
    chunks out again: the previous chunks keep serving."""
    try:
        _index_pieces(org, source_id, piece, progress)
    except Exception as exc:
        db.session.rollback()
        _abort_pieces(org, source_id, piece["staging"])
        _mark_failed(org, source_id, _indexing_failure(exc))
        raise


def _index_pieces(org: Organization, source_id: str, piece: dict[str, Any],
                  progress: Callable[[int], None]) -> None:
    staged = json.loads(storage.get(piece["staging"]))
    chunks, total = staged["chunks"], len(staged["chunks"])
    model = ensure_org_model(org)
    deadline = time.monotonic() + current_app.config["INGEST_PIECE_SECONDS"]
    done = int(piece["next"])
    while done < total:
        source = db.session.get(KnowledgeSource, source_id)
        if source is None:  # deleted meanwhile
            _abort_pieces(org, source_id, piece["staging"])
            return
        part = chunks[done:done + current_app.config["INGEST_PIECE_BATCH"]]
        model = _index_piece(org, source_id, part, staged["language"], model)
        done += len(part)
        source.details = {**(source.details or {}), "pieces": {"done": done, "total": total}}
        db.session.commit()
        progress(int(100 * done / total))
        if done < total and time.monotonic() > deadline:
            nxt = enqueue(org.id, INGEST_JOB, target_id=source_id, dedupe=False, params={
                "source_ids": [source_id], "piece": {"staging": piece["staging"],
                                                     "next": done}})
            source.last_job_id = nxt.id
            db.session.commit()
            return
    _finish_pieces(org, source_id, staged, piece["staging"], model, total)


def _index_piece(org: Organization, source_id: str, part: list[list[Any]], language: str,
                 model: str) -> str:
    """Embed and add one piece: its vectors, rows and lexical entries in one commit.
    Returns the model used (a model switch committed meanwhile re-encodes the piece)."""
    vectors = get_embedder(model).encode([c[0] for c in part])
    ids = new_vector_ids(len(part))
    store = store_for(model)
    store.add(org.id, ids, vectors)
    now = utcnow()
    rows = [_chunk_row(org.id, source_id, Chunk(text, pos, prov, tokens), int(vid), model,
                       store.dim, language, now)
            for (text, pos, prov, tokens), vid in zip(part, ids, strict=True)]

    def write() -> None:
        db.session.execute(insert(KnowledgeChunk), rows)
        lexical.index_chunks(rows)

    switched = _commit_beside(org.id, store, ids, model, write)
    if switched is not None:
        return _index_piece(org, source_id, part, language, switched)
    return model


def _finish_pieces(org: Organization, source_id: str, staged: dict[str, Any], key: str,
                   model: str, total: int) -> None:
    _delete_chunk_rows(staged["old_chunks"])
    source = db.session.get(KnowledgeSource, source_id)
    store = store_for(model)
    source.status, source.error, source.chunk_count = "ready", None, total
    source.embedding_model, source.embedding_dim = model, store.dim
    source.indexed_at = utcnow()
    source.details = {k: v for k, v in (source.details or {}).items() if k != "pieces"}
    db.session.commit()
    remove_everywhere(org.id, staged["old_vectors"])
    compact_when_due(org.id, store)
    storage.delete(key)
    sentence_vectors.fill_quietly(org.id, model, [source_id])


def _abort_pieces(org: Organization, source_id: str, key: str) -> None:
    """Take out the chunks the pieces added (the staged list says which were there
    before) and drop the staged file."""
    try:
        staged = json.loads(storage.get(key))
    except FileNotFoundError:
        return
    keep = set(staged["old_chunks"])
    added = [(cid, vid) for cid, vid in db.session.execute(
        select(KnowledgeChunk.id, KnowledgeChunk.vector_id).where(
            KnowledgeChunk.org_id == org.id, KnowledgeChunk.source_id == source_id)).all()
        if cid not in keep]
    _delete_chunk_rows([cid for cid, _ in added])
    db.session.commit()
    remove_everywhere(org.id, [int(vid) for _, vid in added])
    storage.delete(key)


def _delete_chunk_rows(chunk_ids: list[str]) -> None:
    for start in range(0, len(chunk_ids), 500):
        part = chunk_ids[start:start + 500]
        lexical.remove_chunks(part)
        db.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.id.in_(part)))


def _retry_left(job: Job) -> bool:
    """RQ retries with backoff (JOB_RETRY_INTERVALS); other modes fail at once."""
    return (current_app.config["JOBS_MODE"] == "rq"
            and job.attempts <= len(current_app.config["JOB_RETRY_INTERVALS"]))


def _mark_retrying(org_id: str, source_id: str, message: str) -> None:
    source = db.session.get(KnowledgeSource, source_id)
    if source is not None and source.org_id == org_id:
        source.status, source.error = "queued", f"Temporary failure, retrying: {message}"
        db.session.commit()


@dataclass
class Prepared:
    source_id: str
    extraction: Extraction
    chunks: list[Chunk]
    enrichment: Enrichment
    language: str


def _prepare(org: Organization, job: Job, source_id: str, *, refresh: bool,
             progress: Callable[[int], None] | None = None) -> Prepared | None:
    """Extract, chunk, identify the language and enrich one source; None when there is
    nothing to re-index (an unchanged web page)."""
    source = KnowledgeSource.get_for_org(source_id, org)
    source.status, source.error, source.last_job_id = "processing", None, job.id
    db.session.commit()
    extraction = _extract(org, source, progress)
    if (source.kind == "url" and source.indexed_at is not None
            and extraction.sha256 == source.content_sha256):
        # Unchanged page: nothing to re-embed, the index stays as it is.
        source.status, source.fetched_at = "ready", utcnow()
        source.details = {**(source.details or {}), "unchanged_refreshes":
                          int((source.details or {}).get("unchanged_refreshes", 0)) + 1}
        db.session.commit()
        return None
    chunks = chunk_units(extraction.units)
    if not chunks:
        raise Unprocessable("No text could be extracted from this source.", code="no_text")
    full_text = "\n".join(u.text for u in extraction.units)
    language = detect(full_text[:LANGUAGE_SAMPLE_CHARS]) or _org_language(org)
    enrichment = _enrich(org, source, full_text, language)
    return Prepared(source.id, extraction, chunks, enrichment, language)


def _org_language(org: Organization) -> str:
    declared = org.languages or current_app.config["DEFAULT_ORG_LANGUAGES"]
    return declared[0] if declared else "und"


def _index_batch(org: Organization, prepared: list[Prepared],
                 progress: Callable[[int], None]) -> str:
    """Returns the model the batch was indexed with."""
    model = ensure_org_model(org)
    texts = [c.text for item in prepared for c in item.chunks]
    vectors = get_embedder(model).encode(texts)
    progress(85)
    return _swap_chunks(org, prepared, vectors, model)


def ensure_org_model(org: Organization) -> str:
    """The organization's serving model, recorded on its first source."""
    if not org.embedding_model:
        org.embedding_model = default_model()
        db.session.commit()
    return canonical_name(org.embedding_model)


def _mark_failed(org: Organization, source_id: str, message: str) -> None:
    source = db.session.get(KnowledgeSource, source_id)
    if source is None or source.org_id != org.id:
        return
    source.status, source.error = "failed", message[:2000]
    db.session.commit()


def _extract(org: Organization, source: KnowledgeSource,
             progress: Callable[[int], None] | None = None) -> Extraction:
    cfg = current_app.config
    if source.kind == "file":
        data = storage.get(source.storage_key)
        languages = org.languages or cfg["DEFAULT_ORG_LANGUAGES"]
        on_page = (None if progress is None else
                   lambda done, total: progress(int(100 * done / max(1, total))))
        extracted = extract(data, source.file_type,
                            ExtractLimits(ocr_languages=tuple(languages), on_page=on_page))
        return Extraction(extracted.units, storage.sha256_hex(data), extracted.metadata)
    if source.kind == "qa":
        text = f"Q: {source.question}\nA: {source.answer}"
        return Extraction([TextUnit(text=text, provenance={"qa": True})],
                          storage.sha256_hex((source.question + "\n" + source.answer).encode()),
                          {})
    fetcher = GuardedFetcher(allow_loopback=cfg["URL_FETCH_ALLOW_LOOPBACK"],
                             allow_networks=cfg["OUTBOUND_ALLOW_CIDRS"],
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


def _enrich(org: Organization, source: KnowledgeSource, text: str,
            language: str) -> Enrichment:
    """Summary and keywords from the extracted text (not the chunks: their overlaps would
    repeat sentences), in the source's language."""
    if source.kind == "qa":
        # The pair is its own summary; keywords from the question and answer.
        return Enrichment(summary=source.answer[:600],
                          keywords=keywords_local(f"{source.question}. {source.answer}", top=8,
                                                  language=language),
                          engine="local", model="local")
    cfg = current_app.config
    model = (org.task_models or {}).get("summarize") or cfg["DEFAULT_SUMMARIZE_MODEL"]
    return enrich(text[:ENRICH_CHARS], anthropic_api_key=cfg["ANTHROPIC_API_KEY"], model=model,
                  base_url=cfg["ANTHROPIC_BASE_URL"], language=language)


def new_vector_ids(n: int) -> np.ndarray:
    """Random positive 62-bit ids: unique across processes without a shared sequence."""
    return np.array([secrets.randbits(62) + 1 for _ in range(n)], dtype=np.int64)


def _swap_chunks(org: Organization, prepared: list[Prepared], vectors: np.ndarray,
                 model: str) -> str:
    """Crash-safe swap for a batch: new vectors in, one transaction swaps the rows, old
    vectors out. A model switch committed meanwhile (re-embed) is noticed inside the
    transaction and the batch is re-encoded with the new model, so no index ever holds
    vectors of two models. Returns the model the batch was indexed with."""
    source_ids = [item.source_id for item in prepared]
    old_ids = list(db.session.execute(select(KnowledgeChunk.vector_id).where(
        KnowledgeChunk.org_id == org.id, KnowledgeChunk.source_id.in_(source_ids))).scalars())
    ids = new_vector_ids(len(vectors))
    store = store_for(model)
    store.add(org.id, ids, vectors)  # 1. new vectors in (old still present)
    now = utcnow()
    pairs = [(item, chunk) for item in prepared for chunk in item.chunks]
    rows = [_chunk_row(org.id, item.source_id, chunk, int(vid), model, store.dim,
                       item.language, now) for (item, chunk), vid in zip(pairs, ids, strict=True)]

    def write() -> None:  # 2. one transaction swaps the rows
        lexical.remove_sources(org.id, source_ids)
        db.session.execute(delete(KnowledgeChunk).where(
            KnowledgeChunk.org_id == org.id, KnowledgeChunk.source_id.in_(source_ids)))
        db.session.execute(insert(KnowledgeChunk), rows)
        lexical.index_chunks(rows)
        sources = {s.id: s for s in db.session.execute(select(KnowledgeSource).where(
            KnowledgeSource.org_id == org.id, KnowledgeSource.id.in_(source_ids))).scalars()}
        for item in prepared:
            source = sources.get(item.source_id)
            if source is None:  # deleted while processing: its rows go with it below
                continue
            source.status, source.error = "ready", None
            source.summary = item.enrichment.summary
            source.keywords = list(item.enrichment.keywords)
            source.enrichment_engine = item.enrichment.engine
            source.chunk_count = len(item.chunks)
            source.embedding_model, source.embedding_dim = model, store.dim
            if source.kind == "url":  # files and Q&A: fixed at creation, unique per org
                source.content_sha256 = item.extraction.sha256
            source.indexed_at = now
            source.language = item.language
            source.details = {**(source.details or {}), **_jsonable(item.extraction.details)}
        gone = [sid for sid in source_ids if sid not in sources]
        if gone:
            db.session.execute(delete(KnowledgeChunk).where(
                KnowledgeChunk.source_id.in_(gone)))

    switched = _commit_beside(org.id, store, ids, model, write)
    if switched is not None:
        new_vectors = get_embedder(switched).encode(
            [c.text for item in prepared for c in item.chunks])
        return _swap_chunks(org, prepared, new_vectors, switched)
    remove_everywhere(org.id, old_ids)  # 3. old vectors out (a re-embed may hold them too)
    compact_when_due(org.id, store)
    return model


def _chunk_row(org_id: str, source_id: str, chunk: Chunk, vector_id: int, model: str,
               dim: int, language: str, now: Any) -> dict[str, Any]:
    """One knowledge_chunks row (a bulk insert's dict), the same for batches and pieces."""
    return {"id": new_id("chk"), "org_id": org_id, "source_id": source_id,
            "position": chunk.position, "text": chunk.text, "provenance": chunk.provenance,
            "token_count": chunk.token_count, "vector_id": vector_id,
            "embedding_model": model, "embedding_dim": dim, "language": language,
            "created_at": now}


def _commit_beside(org_id: str, store: VectorIndexStore, ids: np.ndarray, model: str,
                   write: Callable[[], None]) -> str | None:
    """The rows of vectors `ids` (already in `store`) are written by `write` and committed
    only if the organization still serves `model`. Returns the model it switched to (a
    re-embed committed meanwhile: nothing committed, the vectors taken out, the caller
    re-encodes), None once committed; any error takes the vectors out and is raised."""
    try:
        write()
        serving = _serving_model(org_id)
        if serving == model:
            db.session.commit()
            return None
    except Exception:
        db.session.rollback()
        store.remove(org_id, ids)
        raise
    db.session.rollback()
    store.remove(org_id, ids)
    return serving


def _serving_model(org_id: str) -> str:
    """The organization's model read inside the writing transaction (row-locked on
    PostgreSQL, so the re-embed switch and this write are ordered)."""
    stmt = select(Organization.embedding_model).where(Organization.id == org_id)
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    name = db.session.execute(stmt).scalar_one_or_none()
    return canonical_name(name) if name else default_model()


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
    """Recompute embeddings. With `model` (a model change): build the organization's index
    for the new model beside the serving one, then switch in one transaction when it is
    complete; searches use the old model's index until that commit and the new one after,
    never a mix. Without it: re-embed (some or all) sources with the serving model."""
    org = db.session.get(Organization, job.org_id)
    serving = ensure_org_model(org)
    target = canonical_name(job.params.get("model") or serving)
    wanted = job.params.get("source_ids")
    if target == serving:
        _reembed_in_place(org, serving, wanted, progress)
    else:
        _switch_model(org, serving, target, progress)


def _chunk_batches(org_id: str, source_ids: list[str] | None, skip: set[int]):
    stmt = (select(KnowledgeChunk.vector_id, KnowledgeChunk.text)
            .where(KnowledgeChunk.org_id == org_id)
            .order_by(KnowledgeChunk.source_id, KnowledgeChunk.position))
    if source_ids:
        stmt = stmt.where(KnowledgeChunk.source_id.in_(source_ids))
    rows = [(vid, text) for vid, text in db.session.execute(stmt).all() if vid not in skip]
    size = current_app.config["REEMBED_BATCH_SIZE"]
    for start in range(0, len(rows), size):
        yield rows[start:start + size], len(rows)


def _encode_all(org_id: str, model: str, source_ids: list[str] | None, skip: set[int],
                progress: Callable[[int], None], span: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray]:
    embedder = get_embedder(model)
    ids, vecs, done = [], [], 0
    for part, total in _chunk_batches(org_id, source_ids, skip):
        vecs.append(embedder.encode([t for _, t in part]))
        ids.extend(int(v) for v, _ in part)
        done += len(part)
        progress(span[0] + int(done * (span[1] - span[0]) / max(1, total)))
    dim = embedder_dim(embedder)
    return (np.array(ids, dtype=np.int64),
            np.concatenate(vecs) if vecs else np.zeros((0, dim), np.float32))


def _reembed_in_place(org: Organization, model: str, wanted: list[str] | None,
                      progress: Callable[[int], None]) -> None:
    ids, vecs = _encode_all(org.id, model, wanted, set(), progress, (0, 90))
    store = store_for(model)
    if wanted:
        if len(ids):
            store.add(org.id, ids, vecs)
            compact_when_due(org.id, store)
    else:
        store.rebuild(org.id, ids, vecs)
    _stamp(org, model, store.dim, wanted)
    db.session.commit()
    sentence_vectors.fill_quietly(org.id, model, wanted or None)


def _switch_model(org: Organization, serving: str, target: str,
                  progress: Callable[[int], None]) -> None:
    new_store = store_for(target)
    ids, vecs = _encode_all(org.id, target, None, set(), progress, (0, 85))
    new_store.rebuild(org.id, ids, vecs)  # beside the serving index, not yet used
    sentence_vectors.fill_sources(org.id, target)  # likewise: search reads its model's
    done = set(ids.tolist())
    for _pass in range(3):  # sources indexed meanwhile (with the serving model)
        more_ids, more_vecs = _encode_all(org.id, target, None, done, progress, (85, 95))
        if not len(more_ids):
            break
        new_store.add(org.id, more_ids, more_vecs)
        done |= set(more_ids.tolist())
    # The switch: lock the organization row, catch the last stragglers, flip the model.
    _serving_model(org.id)
    stragglers_ids, stragglers = _encode_all(org.id, target, None, done, lambda _p: None,
                                             (95, 95))
    if len(stragglers_ids):
        new_store.add(org.id, stragglers_ids, stragglers)
    live = set(db.session.execute(select(KnowledgeChunk.vector_id).where(
        KnowledgeChunk.org_id == org.id)).scalars())
    org.embedding_model = target
    _stamp(org, target, new_store.dim, None)
    db.session.commit()
    progress(97)
    dead = sorted((done | set(stragglers_ids.tolist())) - live)
    if dead:  # chunks deleted while we were encoding
        new_store.remove(org.id, dead)
    store_for(serving).drop(org.id)
    sentence_vectors.fill_quietly(org.id, target)  # the sources indexed meanwhile
    sentence_vectors.drop_other_models(org.id, target)


def _stamp(org: Organization, model: str, dim: int, source_ids: list[str] | None) -> None:
    chunk_filter = [KnowledgeChunk.org_id == org.id]
    source_filter = [KnowledgeSource.org_id == org.id, KnowledgeSource.indexed_at.is_not(None)]
    if source_ids:
        chunk_filter.append(KnowledgeChunk.source_id.in_(source_ids))
        source_filter.append(KnowledgeSource.id.in_(source_ids))
    db.session.execute(update(KnowledgeChunk).where(*chunk_filter)
                       .values(embedding_model=model, embedding_dim=dim))
    db.session.execute(update(KnowledgeSource).where(*source_filter)
                       .values(embedding_model=model, embedding_dim=dim, indexed_at=utcnow()))
