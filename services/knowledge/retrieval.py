"""Hybrid retrieval: FAISS vectors fused with full-text matches by reciprocal rank,
filtered by the assistant's knowledge scope on both sides.

Ordering is by reciprocal-rank fusion (k=60); each hit's `score` is its cosine similarity
to the query (0..1), which the answer engine uses as its relevance threshold. For Q&A
pairs the score is the best of the pair and its question alone, so a near-exact question
match scores near 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from extensions import db
from models.assistants import Assistant
from models.knowledge import KnowledgeChunk, KnowledgeSource
from models.orgs import Organization
from services.knowledge import lexical
from services.knowledge.embedder import encode_query
from services.knowledge.scope import Scope, scope_of
from services.knowledge.vectors import embedder_for_app, vector_store

RRF_K = 60
MAX_TOP_K = 50


@dataclass
class Hit:
    source_id: str
    kind: str
    title: str
    chunk_id: str
    text: str
    score: float
    provenance: dict = field(default_factory=dict)
    question: str | None = None
    answer: str | None = None
    rank_score: float = 0.0


def search(org: Organization | str, query: str, *, assistant: Assistant | None = None,
           top_k: int = 5) -> list[Hit]:
    """The retrieval the assistants use, scoped to `assistant`'s knowledge when given."""
    from flask import current_app

    org_id = org if isinstance(org, str) else org.id
    query = (query or "").strip()
    top_k = max(1, min(int(top_k), MAX_TOP_K))
    scope = scope_of(assistant)
    if not query or scope.empty:
        return []
    model_name = current_app.config["EMBEDDING_MODEL"]
    qvec = encode_query(query, model_name)
    candidates = max(top_k * 4, 20)
    clause, params = scope.sql()

    vec_ranked = _vector_candidates(org_id, qvec, candidates, scope, clause, params)
    lex_ranked = lexical.search(org_id, query, source_clause=clause, params=params,
                                limit=candidates)

    fused: dict[str, float] = {}
    cosine: dict[str, float] = {}
    for rank, (chunk_id, score) in enumerate(vec_ranked):
        fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        cosine[chunk_id] = score
    for rank, (chunk_id, _) in enumerate(lex_ranked):
        fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
    if not fused:
        return []
    # Equal fused ranks (first on one list, second on the other) go to the semantically
    # closer chunk: full-text ranking differs by backend (BM25 vs ts_rank_cd), meaning less so.
    best = sorted(fused, key=lambda c: (-fused[c], -cosine.get(c, 0.0), c))[: top_k * 2]
    rows = _load(org_id, best, scope)
    ordered = [rows[c] for c in best if c in rows][:top_k]
    missing = [r for r in ordered if r[0].id not in cosine]
    if missing:
        vecs = embedder_for_app().encode([r[0].text for r in missing])
        for (chunk, _), vec in zip(missing, vecs, strict=True):
            cosine[chunk.id] = float(np.dot(vec, qvec))
    qa_scores = _question_scores(ordered, qvec)
    hits = []
    for chunk, source in ordered:
        score = max(cosine.get(chunk.id, 0.0), qa_scores.get(chunk.id, 0.0))
        hits.append(Hit(
            source_id=source.id, kind=source.kind, title=source.title, chunk_id=chunk.id,
            text=chunk.text, score=round(min(1.0, max(0.0, score)), 4),
            provenance=chunk.provenance or {},
            question=source.question if source.kind == "qa" else None,
            answer=source.answer if source.kind == "qa" else None,
            rank_score=round(fused[chunk.id], 6)))
    return hits


def _vector_candidates(org_id: str, qvec: np.ndarray, k: int, scope: Scope, clause: str,
                       params: dict[str, Any]) -> list[tuple[str, float]]:
    """(chunk_id, cosine) for the best vectors whose chunk row exists inside the scope."""
    store = vector_store()
    allowed: set[int] | None = None
    if scope.mode == "linked":
        allowed = _allowed_vector_ids(org_id, clause, params)
        if not allowed:
            return []
        pairs = store.search(org_id, qvec, k, allowed_ids=allowed)
    else:
        # Unrestricted (or a few exclusions): over-fetch and filter by the rows below; fall
        # back to an exact allow-list when exclusions ate too many candidates.
        pairs = store.search(org_id, qvec, k * 2 if scope.excluded else k + 8)
    mapped = _vector_ids_to_chunks(org_id, [vid for vid, _ in pairs], scope)
    result = [(mapped[vid], score) for vid, score in pairs if vid in mapped]
    if scope.excluded and len(result) < min(k, store.count(org_id)) and allowed is None:
        allowed = _allowed_vector_ids(org_id, clause, params)
        pairs = store.search(org_id, qvec, k, allowed_ids=allowed) if allowed else []
        mapped = _vector_ids_to_chunks(org_id, [vid for vid, _ in pairs], scope)
        result = [(mapped[vid], score) for vid, score in pairs if vid in mapped]
    return result[:k]


def _allowed_vector_ids(org_id: str, clause: str, params: dict[str, Any]) -> set[int]:
    from sqlalchemy import text

    rows = db.session.execute(text(
        "SELECT c.vector_id FROM knowledge_chunks c JOIN knowledge_sources s "
        f"ON s.id = c.source_id WHERE c.org_id = :org_id AND {clause}"),  # noqa: S608
        {**params, "org_id": org_id}).scalars()
    return set(rows)


def _vector_ids_to_chunks(org_id: str, vector_ids: list[int], scope: Scope) -> dict[int, str]:
    if not vector_ids:
        return {}
    rows = db.session.execute(
        select(KnowledgeChunk.vector_id, KnowledgeChunk.id, KnowledgeChunk.source_id)
        .join(KnowledgeSource, KnowledgeSource.id == KnowledgeChunk.source_id)
        .where(KnowledgeChunk.org_id == org_id, KnowledgeChunk.vector_id.in_(vector_ids),
               KnowledgeSource.indexed_at.is_not(None))).all()
    return {vid: cid for vid, cid, sid in rows if scope.allows(sid)}


def _load(org_id: str, chunk_ids: list[str], scope: Scope) -> dict[str, tuple]:
    """The authoritative filter: org, scope and an indexed source, whatever ranked them."""
    rows = db.session.execute(
        select(KnowledgeChunk, KnowledgeSource)
        .join(KnowledgeSource, KnowledgeSource.id == KnowledgeChunk.source_id)
        .where(KnowledgeChunk.org_id == org_id, KnowledgeSource.org_id == org_id,
               KnowledgeChunk.id.in_(chunk_ids), KnowledgeSource.indexed_at.is_not(None))
    ).all()
    return {c.id: (c, s) for c, s in rows if scope.allows(s.id)}


def _question_scores(ordered: list[tuple], qvec: np.ndarray) -> dict[str, float]:
    qa = [(c, s) for c, s in ordered if s.kind == "qa" and s.question]
    if not qa:
        return {}
    vecs = embedder_for_app().encode([s.question for _, s in qa])
    return {c.id: float(np.dot(v, qvec)) for (c, _), v in zip(qa, vecs, strict=True)}
