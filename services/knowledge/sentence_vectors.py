"""Every sentence of an organization's knowledge embedded on its own.

A passage that answers a question usually does so in one sentence, and a small embedding
model matches a question to that sentence better than to the whole passage, where the
other sentences dilute it. Search scores each candidate by its closest sentence beside its
own vector (services.knowledge.scoring, `sentence_cosine`); on SQuAD-it and on the support
guides this put the right passage first more often in both languages (bench/RESULTS.md,
issue 11, seventh pass). The answer engine reads the same vectors instead of encoding the
sentences it weighs on every question.

Vectors are stored once per (organization, model, sentence), found by a digest of the
three: a sentence shared by overlapping chunks, or kept by a re-processed source, is
encoded once, and vectors of two models never meet (search reads only its model's). A
passage whose sentences are not all stored yet (being filled, or stored before this
existed) is scored by its own vector in their place.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from functools import lru_cache

import numpy as np
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from extensions import db
from models.knowledge import KnowledgeChunk, SentenceVector
from services.knowledge.embedder import get_embedder
from services.knowledge.sentences import quoted_sentences

log = logging.getLogger("companin.knowledge")
ENCODE_BATCH = 64
LOOKUP_BATCH = 500  # digests per SELECT


def digest(org_id: str, model: str, sentence: str) -> str:
    return hashlib.sha256(f"{org_id}\x00{model}\x00{sentence}".encode()).hexdigest()


def sentences_of(texts: Iterable[str]) -> list[str]:
    """The distinct sentences of `texts`, in order of first appearance."""
    return list(dict.fromkeys(s for t in texts for s in quoted_sentences(t)))


@lru_cache(maxsize=20_000)
def chunk_sentences(org_id: str, model: str, chunk_id: str,
                    text: str) -> tuple[tuple[str, str], ...]:
    """A chunk's (sentence, digest) pairs. Cached by chunk: search splits and hashes the
    same candidates again and again, and a chunk's text never changes (a re-processed
    source gets new chunks)."""
    return tuple((s, digest(org_id, model, s)) for s in quoted_sentences(text))


def lookup(org_id: str, model: str, sentences: list[str]) -> dict[str, np.ndarray]:
    """Stored vectors (float32, normalized) of those of `sentences` that have one."""
    by_digest = {digest(org_id, model, s): s for s in sentences}
    return {by_digest[k]: v for k, v in vectors(org_id, list(by_digest)).items()}


def vectors(org_id: str, digests: list[str]) -> dict[str, np.ndarray]:
    """Stored vectors by digest (float32, normalized), for those that have one."""
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(digests), LOOKUP_BATCH):
        rows = db.session.execute(
            SentenceVector.query_for_org(org_id, SentenceVector.digest, SentenceVector.vector)
            .where(SentenceVector.digest.in_(digests[start:start + LOOKUP_BATCH]))).all()
        for key, blob in rows:
            found[key] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    return found


def fill(org_id: str, model: str, texts: Iterable[str]) -> int:
    """Encode and store the sentences of `texts` that have no vector yet under `model`;
    returns how many were added. Commits (in batches, so a long source shows progress
    and a failure keeps what was stored)."""
    by_digest = {digest(org_id, model, s): s for s in sentences_of(texts)}
    keys = list(by_digest)
    have: set[str] = set()
    for start in range(0, len(keys), LOOKUP_BATCH):  # which exist: digests, not vectors
        have.update(db.session.execute(
            SentenceVector.query_for_org(org_id, SentenceVector.digest)
            .where(SentenceVector.digest.in_(keys[start:start + LOOKUP_BATCH]))).scalars())
    missing = [s for key, s in by_digest.items() if key not in have]
    embedder = get_embedder(model)
    added = 0
    for start in range(0, len(missing), ENCODE_BATCH):
        part = missing[start:start + ENCODE_BATCH]
        vectors = np.asarray(embedder.encode(part), dtype=np.float16)
        _insert([{"digest": digest(org_id, model, s), "org_id": org_id, "model": model,
                  "vector": v.tobytes()} for s, v in zip(part, vectors, strict=True)])
        db.session.commit()
        added += len(part)
    return added


def fill_sources(org_id: str, model: str, source_ids: list[str] | None = None) -> int:
    """`fill` for the chunks of these sources (None: the whole organization)."""
    return sum(fill(org_id, model, texts)
               for texts in _chunk_texts(org_id, source_ids, page=200))


def fill_quietly(org_id: str, model: str, source_ids: list[str] | None = None) -> None:
    """After indexing: the sources already serve (scored by their passages' vectors until
    this is done), so a failure here is logged and leaves them serving."""
    try:
        fill_sources(org_id, model, source_ids)
    except Exception:
        db.session.rollback()
        log.exception("sentence vectors of %s could not be stored", org_id)


def collect_garbage(org_id: str, model: str) -> int:
    """Delete the vectors under `model` of sentences no chunk holds any more (their
    sources deleted or re-processed); runs with the index compaction that reclaims the
    same sources' passage vectors. The stored digests are read before the chunks: a
    sentence is stored only after its chunk is committed, so one stored meanwhile is
    never taken for garbage. Returns how many went."""
    stored = set(db.session.execute(
        SentenceVector.query_for_org(org_id, SentenceVector.digest)
        .where(SentenceVector.model == model)).scalars())
    if not stored:
        return 0
    for texts in _chunk_texts(org_id, None, page=500):
        stored -= {digest(org_id, model, s) for s in sentences_of(texts)}
        if not stored:
            break
    dead = sorted(stored)
    for start in range(0, len(dead), LOOKUP_BATCH):
        db.session.execute(delete(SentenceVector).where(
            SentenceVector.org_id == org_id,
            SentenceVector.digest.in_(dead[start:start + LOOKUP_BATCH])))
        db.session.commit()
    return len(dead)


def drop_other_models(org_id: str, model: str) -> None:
    """After a model switch: the vectors of the model no longer served go."""
    db.session.execute(delete(SentenceVector).where(SentenceVector.org_id == org_id,
                                                    SentenceVector.model != model))
    db.session.commit()


def _chunk_texts(org_id: str, source_ids: list[str] | None, *,
                 page: int) -> Iterator[list[str]]:
    """The texts of the organization's chunks (of these sources, when given), a page at a
    time in id order, so an organization of any size fits in memory."""
    stmt = KnowledgeChunk.query_for_org(org_id, KnowledgeChunk.id, KnowledgeChunk.text)
    if source_ids is not None:
        stmt = stmt.where(KnowledgeChunk.source_id.in_(source_ids))
    after = ""
    while rows := db.session.execute(stmt.where(KnowledgeChunk.id > after)
                                     .order_by(KnowledgeChunk.id).limit(page)).all():
        after = rows[-1][0]
        yield [r[1] for r in rows]


def _insert(rows: list[dict[str, object]]) -> None:
    """Insert, leaving a row another process stored meanwhile as it is."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    db.session.execute(module.insert(SentenceVector).values(rows)
                       .on_conflict_do_nothing(index_elements=["digest"]))
