"""The product path, through its own public services on an embedded app (SQLite and
indexes in a temporary INSTANCE_DIR, JOBS_MODE=sync so each batch's job runs inline):

- ingest: `sources.create_files` with the documents as UTF-8 .txt uploads, in batches;
- search: `retrieval.search(org, query, top_k=...)`, hits deduplicated to documents;
- answers: an assistant, a session and one conversation per question, the question posted
  through `conversations.post_message` (what POST /conversations/<id>/messages calls), the
  stored reply read back.
"""
from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import latency_summary
from bench.quality.data import Dataset, Query
from bench.quality.metrics import contains_gold, median
from services.knowledge.scoring import GATE

SEARCH_DEPTH = 10  # hit@k, MRR@10, nDCG@10 come from a top_k=10 search
RECALL_DEPTH = 50  # retrieval.MAX_TOP_K: the most one search returns


@contextlib.contextmanager
def embedded_app(workdir: Path, model: str | None) -> Iterator[Any]:
    """create_app() on a throwaway SQLite database, migrated, with an app context; the
    embedding model is the app's own unless `model` names another."""
    from flask_migrate import upgrade

    from extensions import db
    from factory import create_app

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir}/companin.db",
        "INDEX_DIR": str(workdir / "indexes"), "STORAGE_DIR": str(workdir / "storage"),
        "JOBS_MODE": "sync", "RATELIMIT_STORAGE_URI": "memory://",
        "ANTHROPIC_API_KEY": None, **({"EMBEDDING_MODEL": model} if model else {}),
    })
    with app.app_context():
        upgrade(revision="heads")
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@dataclass
class Corpus:
    """What the product made of one dataset's documents."""

    org: Any
    docs_of_source: dict[str, list[str]] = field(default_factory=dict)
    source_of_doc: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def documents(self, hits: list[Any]) -> list[str]:
        """Hits → document ids: a source ranks where its first chunk does."""
        seen: dict[str, None] = {}
        for hit in hits:
            for doc in self.docs_of_source.get(hit.source_id, ()):
                seen.setdefault(doc, None)
        return list(seen)


def ingest(data: Dataset, model: str, *, batch: int) -> Corpus:
    from sqlalchemy import func, select

    from extensions import db
    from models.knowledge import KnowledgeChunk, KnowledgeSource
    from services.knowledge import sources
    from services.orgs import create_organization

    org = create_organization(f"bench-quality-{data.key}")
    # What an organization working in this language would declare; the model as chosen.
    org.languages, org.embedding_model = [data.language], model
    db.session.commit()
    corpus = Corpus(org)
    seconds, duplicates = 0.0, 0
    total = len(data.docs)
    for start in range(0, total, batch):
        part = data.docs[start:start + batch]
        uploads = [(d.text.encode("utf-8"), f"{d.id}.txt", d.title) for d in part]
        t = time.perf_counter()
        stored, _job = sources.create_files(org, uploads)
        seconds += time.perf_counter() - t
        for doc, (source, duplicate) in zip(part, stored, strict=True):
            duplicates += duplicate
            corpus.source_of_doc[doc.id] = source.id
            corpus.docs_of_source.setdefault(source.id, []).append(doc.id)
        done = start + len(part)
        print(f"   ingested {done:,}/{total:,} documents ({seconds:.0f} s, "
              f"~{(total - done) * seconds / done / 60:.0f} min left)", flush=True)
    rows = db.session.execute(
        select(KnowledgeSource.status, KnowledgeSource.file_type, func.count(),
               func.sum(KnowledgeSource.chunk_count))
        .where(KnowledgeSource.org_id == org.id)
        .group_by(KnowledgeSource.status, KnowledgeSource.file_type)).all()
    chunks = db.session.execute(select(func.count()).select_from(KnowledgeChunk)
                                .where(KnowledgeChunk.org_id == org.id)).scalar_one()
    by_status: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for status, file_type, n, _c in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_type[file_type or "?"] = by_type.get(file_type or "?", 0) + n
    corpus.figures = {
        "documents": total, "sources": len(corpus.docs_of_source), "duplicates": duplicates,
        "chunks": chunks, "status": by_status, "file_types": by_type,
        "seconds": round(seconds, 2),
        "s_per_chunk": round(seconds / chunks, 4) if chunks else float("nan"),
        "chunks_per_s": round(chunks / seconds, 2) if seconds else float("nan"),
        "s_per_document": round(seconds / max(1, total), 4),
        "batch": batch, "model": model,
    }
    return corpus


def chunk_texts(corpus: Corpus, n: int, seed: int) -> list[str]:
    """A seeded sample of the chunks the product embedded (for the raw encode rates)."""
    from sqlalchemy import select

    from extensions import db
    from models.knowledge import KnowledgeChunk

    texts = list(db.session.execute(
        select(KnowledgeChunk.text).where(KnowledgeChunk.org_id == corpus.org.id)
        .order_by(KnowledgeChunk.id)).scalars())
    return random.Random(seed).sample(texts, min(n, len(texts)))


def search_rankings(corpus: Corpus, queries: list[Query], top_k: int
                    ) -> tuple[list[list[str]], dict[str, Any]]:
    from services.knowledge.retrieval import search

    rankings, latencies, sizes = [], [], []
    for n, query in enumerate(queries, start=1):
        t = time.perf_counter()
        hits = search(corpus.org, query.text, assistant=None, top_k=top_k)
        latencies.append(time.perf_counter() - t)
        rankings.append(corpus.documents(hits))
        sizes.append(len(rankings[-1]))
        if n % 500 == 0:
            print(f"   searched {n:,}/{len(queries):,} (top_k={top_k})", flush=True)
    return rankings, {"top_k": top_k, "latency": latency_summary(latencies),
                      "mean_documents": round(sum(sizes) / max(1, len(sizes)), 2)}


def answer_sample(corpus: Corpus, data: Dataset, n: int, seed: int) -> dict[str, Any]:
    """Post `n` seeded-random questions as a customer would and score the stored replies:
    a gold answer string in the reply (folded), the question's paragraph cited."""
    from services.assistants import create_assistant
    from services.conversations import create_conversation, post_message
    from services.sessions import create_session

    org = corpus.org
    questions = [q for q in data.queries if q.answers]
    sample = random.Random(seed).sample(questions, min(n, len(questions)))
    assistant = create_assistant(org, {"name": f"Bench {data.language}",
                                       "language": data.language}, actor=None)
    session = create_session(org, {"assistant_id": assistant.id, "ttl_seconds": 86400})
    rows, latencies = [], []
    for i, query in enumerate(sample, start=1):
        conversation = create_conversation(org, session_id=session.id)
        t = time.perf_counter()
        _question, reply = post_message(org, conversation.id, query.text)
        latencies.append(time.perf_counter() - t)
        cited = {c.get("source_id") for c in reply.citations or []}
        offered = {r.get("source_id") for r in reply.retrieval or []}
        wanted = {corpus.source_of_doc[d] for d in query.relevant if d in corpus.source_of_doc}
        # What the gate lets the engine quote, best first: a reply can cite the right
        # paragraph only when it is here, so these bound the citation figure.
        passing = list(dict.fromkeys(r.get("source_id") for r in reply.retrieval or []
                                     if r.get("score", 0.0) >= GATE))
        rows.append({"id": query.id, "gold": contains_gold(reply.content, query.answers),
                     "cites": bool(cited & wanted), "offered": bool(offered & wanted),
                     "passing_first": bool(set(passing[:1]) & wanted),
                     "passing_two": bool(set(passing[:2]) & wanted),
                     "chars": len(reply.content), "type": reply.answer_type,
                     "model": reply.model})
        if i % 100 == 0:
            print(f"   answered {i:,}/{len(sample):,}", flush=True)
    m = max(1, len(rows))
    types: dict[str, int] = {}
    for r in rows:
        types[r["type"] or "?"] = types.get(r["type"] or "?", 0) + 1
    return {
        "questions": len(rows), "seed": seed, "assistant_language": data.language,
        "engine": sorted({r["model"] for r in rows}),
        "gold": round(sum(r["gold"] for r in rows) / m, 4),
        "cites": round(sum(r["cites"] for r in rows) / m, 4),
        "gold_and_cites": round(sum(r["gold"] and r["cites"] for r in rows) / m, 4),
        "retrieved": round(sum(r["offered"] for r in rows) / m, 4),
        "passing_first": round(sum(r["passing_first"] for r in rows) / m, 4),
        "passing_two": round(sum(r["passing_two"] for r in rows) / m, 4),
        "median_chars": median([r["chars"] for r in rows]),
        "answer_types": types, "latency": latency_summary(latencies) if latencies else {},
    }
