"""The lexical half of hybrid retrieval: PostgreSQL full-text search, SQLite FTS5.

PostgreSQL uses a GIN index on `to_tsvector('simple', text)` (created by the migration) and
needs no upkeep. SQLite keeps a standalone FTS5 table that this module maintains in the
same transaction as the chunk rows. Queries OR the question's content words together so a
natural-language question matches passages that share its rare words (ranked by BM25 /
ts_rank_cd), instead of requiring every word.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from extensions import db

FTS_TABLE = "knowledge_chunks_fts"
_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)
_STOP = frozenset(
    "the a an and or of to in on for is are was were be been it this that with as at by from"
    " what which who how when where why do does did can could should would will i you we they"
    " my your our their me us il lo la le gli un una uno di da del della che per con non sono"
    " come cosa quando dove perché e o ed ma se".split()
)


def query_terms(query: str, limit: int = 24) -> list[str]:
    terms = [w.lower() for w in _WORD.findall(query or "")]
    kept = [w for w in terms if w not in _STOP] or terms
    return list(dict.fromkeys(kept))[:limit]


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def index_chunks(rows: Iterable[dict[str, Any]]) -> None:
    """Add chunks to the lexical index (SQLite only; PostgreSQL indexes the column)."""
    if _dialect() != "sqlite":
        return
    payload = [{"text": r["text"], "chunk_id": r["id"], "org_id": r["org_id"],
                "source_id": r["source_id"]} for r in rows]
    if payload:
        db.session.execute(text(
            f"INSERT INTO {FTS_TABLE} (text, chunk_id, org_id, source_id) "  # noqa: S608
            "VALUES (:text, :chunk_id, :org_id, :source_id)"), payload)


def remove_source(org_id: str, source_id: str) -> None:
    if _dialect() != "sqlite":
        return
    db.session.execute(text(
        f"DELETE FROM {FTS_TABLE} WHERE org_id = :o AND source_id = :s"),  # noqa: S608
        {"o": org_id, "s": source_id})


def search(org_id: str, query: str, *, source_clause: str, params: dict[str, Any],
           limit: int) -> list[tuple[str, float]]:
    """Best lexical matches as (chunk_id, rank score), best first, within the scope given
    by `source_clause` (SQL over alias `s`, the knowledge_sources row)."""
    terms = query_terms(query)
    if not terms:
        return []
    bind = {**params, "org_id": org_id, "limit": limit}
    if _dialect() == "postgresql":
        bind["tsq"] = " | ".join(terms)
        sql = (
            "SELECT c.id, ts_rank_cd(to_tsvector('simple', c.text), q) AS rank "
            "FROM knowledge_chunks c JOIN knowledge_sources s ON s.id = c.source_id, "
            "to_tsquery('simple', :tsq) q "
            "WHERE c.org_id = :org_id AND to_tsvector('simple', c.text) @@ q "
            f"AND {source_clause} ORDER BY rank DESC, c.id LIMIT :limit"
        )
    else:
        bind["match"] = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        sql = (
            f"SELECT f.chunk_id, -bm25({FTS_TABLE}) AS rank FROM {FTS_TABLE} f "
            "JOIN knowledge_sources s ON s.id = f.source_id "
            f"WHERE {FTS_TABLE} MATCH :match AND f.org_id = :org_id AND {source_clause} "
            "ORDER BY rank DESC LIMIT :limit"
        )
    rows = db.session.execute(text(sql), bind).all()  # noqa: S608 - clauses are ours
    return [(r[0], float(r[1])) for r in rows]
