"""Hybrid retrieval: FAISS vectors and language-aware full text, fused, scored once.

Candidates come from both sides (the organization's embedding model, and the lexical
index in every language its knowledge is written in), filtered by the assistant's scope
on both. Each candidate is scored by services.knowledge.scoring — reciprocal-rank fusion
plus the absolute cosine and the share of the question's words it contains — and that
one `score` orders the results, gates the answer engine and is shown as the citation
score. The trace fields (`vector_score`, `lexical_score`, `coverage`, `rank_score`) say
why a passage ranked where it did.

For Q&A pairs the cosine is the best of the pair and its question alone, so a paraphrase
of the question (in any language) scores like the question itself.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import select, text

from extensions import db
from models.assistants import Assistant
from models.knowledge import KnowledgeChunk, KnowledgeSource
from models.orgs import Organization
from services.knowledge import lexical, sentence_vectors
from services.knowledge.embedder import canonical_name, encode_query, get_embedder
from services.knowledge.language import analyze, content_terms, detect, primary
from services.knowledge.scope import Scope, scope_of
from services.knowledge.sentences import split_sentences
from services.knowledge.scoring import calibration_for, final_score, rrf
from services.knowledge.vectors import default_model, org_model, store_for

MAX_TOP_K = 50
QUERY_MIN_CONFIDENCE = 0.5
_UNKNOWN_LANGUAGES = {"und", "mul", "zxx"}
_LANG_TTL = 30.0
_lang_cache: dict[str, tuple[float, list[str]]] = {}
_lang_lock = threading.Lock()


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
    vector_score: float | None = None
    lexical_score: float | None = None
    coverage: float = 0.0
    sentence_coverage: float = 0.0  # the best single sentence's share of the question
    lexical_norm: float = 0.0  # full-text score over the best one of this search
    language: str | None = None
    lexical_only: bool = False  # found by the full-text side alone
    model: str | None = None  # the embedding model that scored it
    same_question: bool = False  # Q&A: the pair's question is this question
    # The closest of the passage's sentences (services.knowledge.sentence_vectors); the
    # passage's own cosine while its sentences are not stored.
    sentence_cosine: float | None = None
    # Each sentence's cosine to the question, when stored: the answer engine reads these.
    sentence_cosines: dict[str, float] = field(default_factory=dict, repr=False)
    vector_rank: int | None = None  # 1-based place among the vector candidates
    lexical_rank: int | None = None  # 1-based place among the full-text candidates


def search(org: Organization | str, query: str, *, assistant: Assistant | None = None,
           top_k: int = 5) -> list[Hit]:
    """The retrieval the assistants use, scoped to `assistant`'s knowledge when given."""
    organization = db.session.get(Organization, org) if isinstance(org, str) else org
    if organization is None:
        return []
    query = (query or "").strip()
    top_k = max(1, min(int(top_k), MAX_TOP_K))
    scope = scope_of(assistant)
    if not query or scope.empty:
        return []
    model = org_model(organization)
    qvec = encode_query(query, model)
    candidates = max(top_k * 4, 20)
    clause, params = scope.sql()
    question_language = asked_in(query)
    languages = query_languages(organization, question_language)

    vec_ranked = _vector_candidates(organization.id, model, qvec, candidates, scope, clause,
                                    params)
    lex_ranked = lexical.search(organization.id, query, languages=languages,
                                source_clause=clause, params=params, limit=candidates)
    fused: dict[str, float] = {}
    cosine: dict[str, float] = {}
    lexical_raw: dict[str, float] = {}
    for rank, (chunk_id, score) in enumerate(vec_ranked):
        fused[chunk_id] = fused.get(chunk_id, 0.0) + rrf(rank)
        cosine[chunk_id] = score
    for rank, (chunk_id, score) in enumerate(lex_ranked):
        fused[chunk_id] = fused.get(chunk_id, 0.0) + rrf(rank)
        lexical_raw[chunk_id] = score
    if not fused:
        return []
    rows = _load(organization.id, list(fused), scope)
    missing = [c.vector_id for c, _ in rows.values() if c.id not in cosine]
    if missing:  # found by the lexical side only: its stored vector, never a re-embed
        stored = store_for(model).vectors(organization.id, missing)
        for chunk, _ in rows.values():
            if chunk.id not in cosine and chunk.vector_id in stored:
                cosine[chunk.id] = float(np.dot(stored[chunk.vector_id], qvec))
    question_cos = _question_scores(list(rows.values()), model, qvec)
    per_sentence = _sentence_scores(organization.id, model, qvec, list(rows.values()))
    from_vectors = {chunk_id for chunk_id, _ in vec_ranked}
    vector_rank, lexical_rank = _ranks(vec_ranked), _ranks(lex_ranked)
    best_lexical = max(lexical_raw.values(), default=0.0)
    calibration = calibration_for(model)
    question_terms: dict[str | None, set[str]] = {}  # the question analyzed once per language
    hits = []
    for chunk_id, (chunk, source) in rows.items():
        cos = max(cosine.get(chunk_id, 0.0), question_cos.get(chunk_id, -1.0))
        if chunk.language not in question_terms:
            question_terms[chunk.language] = content_terms(query, chunk.language)
        coverage, sentence_cov = _coverage(question_terms[chunk.language], chunk.text,
                                           chunk.language)
        lexical_norm = (lexical_raw.get(chunk_id, 0.0) / best_lexical if best_lexical > 0
                        else 0.0)
        sentences = per_sentence.get(chunk_id, {})
        sentence_cos = max(sentences.values()) if sentences else cos
        score = final_score(cosine=cos, coverage=coverage, fused=fused[chunk_id],
                            lexical_only=chunk_id not in from_vectors,
                            sentence_coverage=sentence_cov, lexical_norm=lexical_norm,
                            sentence_cosine=sentence_cos,
                            cross_language=cross_language(question_language,
                                                           chunk.language),
                            calibration=calibration)
        hits.append(Hit(
            source_id=source.id, kind=source.kind, title=source.title, chunk_id=chunk.id,
            text=chunk.text, score=round(score, 4), provenance=chunk.provenance or {},
            question=source.question if source.kind == "qa" else None,
            answer=source.answer if source.kind == "qa" else None,
            rank_score=round(fused[chunk_id], 6), vector_score=round(cos, 4),
            lexical_score=(round(lexical_raw[chunk_id], 4) if chunk_id in lexical_raw
                           else None),
            coverage=round(coverage, 4), sentence_coverage=round(sentence_cov, 4),
            lexical_norm=round(lexical_norm, 4), language=chunk.language, model=model,
            lexical_only=chunk_id not in from_vectors,
            vector_rank=vector_rank.get(chunk_id), lexical_rank=lexical_rank.get(chunk_id),
            same_question=question_cos.get(chunk_id, -1.0) >= calibration.same_question,
            sentence_cosine=round(sentence_cos, 4), sentence_cosines=sentences))
    hits.sort(key=lambda h: (-h.score, -h.rank_score, h.chunk_id))
    return hits[:top_k]


def _sentence_scores(org_id: str, model: str, qvec: np.ndarray,
                     rows: list[tuple[KnowledgeChunk, KnowledgeSource]]
                     ) -> dict[str, dict[str, float]]:
    """Per candidate chunk whose sentences are all stored: each sentence's cosine to
    the question. A chunk with any sentence missing is left out (scored by its own
    vector): a maximum over some of its sentences would understate it."""
    per_chunk = {chunk.id: sentence_vectors.chunk_sentences(org_id, model, chunk.id, chunk.text)
                 for chunk, _ in rows}
    stored = sentence_vectors.vectors(
        org_id, list(dict.fromkeys(d for pairs in per_chunk.values() for _, d in pairs)))
    if not stored:
        return {}
    keys = list(stored)
    sims = dict(zip(keys, (np.vstack([stored[k] for k in keys]) @ qvec).tolist(),
                    strict=True))
    return {chunk_id: {s: sims[d] for s, d in pairs}
            for chunk_id, pairs in per_chunk.items()
            if pairs and all(d in sims for _, d in pairs)}


def cross_language(question: str | None, passage: str | None) -> bool:
    """Asked in one language of a passage in another: no shared words to count."""
    a, b = primary(question), primary(passage)
    return a != b and not {a, b} & _UNKNOWN_LANGUAGES


def _ranks(ranked: list[tuple[str, float]]) -> dict[str, int]:
    """Each chunk's first (best) 1-based place in a candidate list."""
    ranks: dict[str, int] = {}
    for place, (chunk_id, _) in enumerate(ranked, start=1):
        ranks.setdefault(chunk_id, place)
    return ranks


def sentence_similarity(question: str, sentences: list[str], model: str | None,
                        known: dict[str, float] | None = None) -> list[float]:
    """Each sentence's closeness to the question under `model` (default: the configured
    one), rescaled by the model's calibration so 0 ≈ unrelated and 1 ≈ a paraphrase.
    `known`: cosines search already read from the stored sentence vectors; only the other
    sentences are encoded."""
    if not sentences:
        return []
    name = model or default_model()
    known = known or {}
    cosines = dict(known)
    todo = [s for s in dict.fromkeys(sentences) if s not in known]
    if todo:
        qvec = encode_query(question, name)
        vectors = get_embedder(name).encode(todo)
        cosines.update(zip(todo, (vectors @ qvec).tolist(), strict=True))
    c = calibration_for(canonical_name(name))
    span = max(1e-6, c.sentence_ceiling - c.sentence_floor)
    return [float((cosines[s] - c.sentence_floor) / span) for s in sentences]


def asked_in(query: str) -> str | None:
    """The question's language, when the detector is sure of it."""
    return detect(query, min_confidence=QUERY_MIN_CONFIDENCE)


def query_languages(org: Organization, detected: str | None) -> list[str]:
    """The languages a question is analyzed in: its own (`asked_in`, when the detector is
    sure) and those of the organization's knowledge, else the organization's declared ones."""
    known = knowledge_languages(org.id) or list(
        org.languages or current_app.config["DEFAULT_ORG_LANGUAGES"])
    return list(dict.fromkeys([*([detected] if detected else []), *known]))[:6]


def knowledge_languages(org_id: str) -> list[str]:
    """Distinct languages of the organization's sources, cached for a few seconds."""
    now = time.monotonic()
    with _lang_lock:
        cached = _lang_cache.get(org_id)
    if cached is not None and now - cached[0] < _LANG_TTL:
        return cached[1]
    rows = db.session.execute(text(
        "SELECT language, COUNT(*) AS n FROM knowledge_sources WHERE org_id = :o "
        "AND language IS NOT NULL GROUP BY language ORDER BY n DESC"), {"o": org_id}).all()
    langs = [r[0] for r in rows if r[0] != "und"]
    with _lang_lock:
        _lang_cache[org_id] = (now, langs)
    return langs


def forget_languages(org_id: str) -> None:
    """Called after ingestion so this process sees a new language at once."""
    with _lang_lock:
        _lang_cache.pop(org_id, None)


def _coverage(terms: set[str], passage: str, language: str | None) -> tuple[float, float]:
    """Share of the question's content words present in the passage (stemmed), and in
    its best single sentence: an answer usually restates the question in one sentence,
    where a passage that merely shares the topic scatters the same words."""
    if not terms:
        return 0.0, 0.0
    # Sentences split only at white space, so together they hold every word of the
    # passage: the passage is analyzed once, sentence by sentence.
    found = [terms.intersection(analyze(s, language)) for s in split_sentences(passage)]
    best = max((len(f) for f in found), default=0)
    return len(set().union(*found)) / len(terms), best / len(terms)


def _vector_candidates(org_id: str, model: str, qvec: np.ndarray, k: int, scope: Scope,
                       clause: str, params: dict[str, Any]) -> list[tuple[str, float]]:
    """(chunk_id, cosine) for the best vectors whose chunk row exists inside the scope."""
    store = store_for(model)
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


def _question_scores(rows: list[tuple], model: str, qvec: np.ndarray) -> dict[str, float]:
    """Cosine of the question to each Q&A pair's own question, embedded as a question
    (symmetric matching) and cached per process like every query vector."""
    return {chunk.id: float(np.dot(encode_query(source.question, model), qvec))
            for chunk, source in rows if source.kind == "qa" and source.question}
