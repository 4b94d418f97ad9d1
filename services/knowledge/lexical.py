"""The lexical half of hybrid retrieval, language-aware on both databases.

Every chunk carries the language of its source. PostgreSQL indexes
`to_tsvector(companin_ts_config(language), text)` (GIN, created by migration 0007): the
language's Snowball configuration with `unaccent` in front. SQLite keeps a standalone FTS5
table holding the chunk's *analyzed* text (stemmed in its language, accents folded by
services.knowledge.language), maintained here in the same transaction as the chunk rows.

A question is analyzed in each language the organization's knowledge is written in (and
the question's own), and its content words are OR-ed, so "garanzie" finds "garanzia" in
Italian text and an English question still matches English passages in a mixed library.
Ranking: BM25 (FTS5) / ts_rank_cd (PostgreSQL).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from extensions import db
from services.knowledge.language import analyze, pg_config, words

FTS_TABLE = "knowledge_chunks_fts"
MAX_TERMS = 24


def query_terms(query: str, languages: Iterable[str | None]) -> list[str]:
    """Analyzed content terms of the question, once per language, de-duplicated."""
    terms: list[str] = []
    for lang in languages:
        terms.extend(analyze(query, lang, drop_stop_words=True))
    return list(dict.fromkeys(t for t in terms if t))[:MAX_TERMS]


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def index_chunks(rows: Iterable[dict[str, Any]]) -> None:
    """Add chunks to the lexical index (SQLite only; PostgreSQL indexes the column)."""
    if _dialect() != "sqlite":
        return
    payload = [{"text": " ".join(analyze(r["text"], r.get("language"))),
                "chunk_id": r["id"], "org_id": r["org_id"], "source_id": r["source_id"]}
               for r in rows]
    if payload:
        db.session.execute(text(
            f"INSERT INTO {FTS_TABLE} (text, chunk_id, org_id, source_id) "  # noqa: S608
            "VALUES (:text, :chunk_id, :org_id, :source_id)"), payload)


def remove_sources(org_id: str, source_ids: list[str]) -> None:
    if _dialect() != "sqlite" or not source_ids:
        return
    db.session.execute(text(
        f"DELETE FROM {FTS_TABLE} WHERE org_id = :o AND source_id = :s"),  # noqa: S608
        [{"o": org_id, "s": sid} for sid in source_ids])


def remove_chunks(chunk_ids: list[str]) -> None:
    if _dialect() != "sqlite" or not chunk_ids:
        return
    db.session.execute(text(f"DELETE FROM {FTS_TABLE} WHERE chunk_id = :c"),  # noqa: S608
                       [{"c": cid} for cid in chunk_ids])


def remove_source(org_id: str, source_id: str) -> None:
    remove_sources(org_id, [source_id])


def search(org_id: str, query: str, *, languages: list[str], source_clause: str,
           params: dict[str, Any], limit: int) -> list[tuple[str, float]]:
    """Best lexical matches as (chunk_id, rank score), best first, within the scope given
    by `source_clause` (SQL over alias `s`, the knowledge_sources row)."""
    bind = {**params, "org_id": org_id, "limit": limit}
    if _dialect() == "postgresql":
        words = query_terms_raw(query)
        if not words:
            return []
        # One tsquery per language, OR-ed: each stems the words its own way.
        parts = []
        for n, lang in enumerate(dict.fromkeys(pg_config(lang) for lang in languages)):
            bind[f"cfg{n}"], bind[f"q{n}"] = lang, " | ".join(words)
            parts.append(f"to_tsquery(CAST(:cfg{n} AS regconfig), :q{n})")
        tsquery = " || ".join(parts)
        sql = (
            "SELECT c.id, ts_rank_cd(to_tsvector(companin_ts_config(c.language), c.text),"
            " tq.q) AS rank FROM knowledge_chunks c JOIN knowledge_sources s"
            f" ON s.id = c.source_id, (SELECT {tsquery} AS q) tq "
            "WHERE c.org_id = :org_id "
            "AND to_tsvector(companin_ts_config(c.language), c.text) @@ tq.q "
            f"AND {source_clause} ORDER BY rank DESC, c.id LIMIT :limit"
        )
    else:
        terms = query_terms(query, languages)
        if not terms:
            return []
        bind["match"] = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        sql = (
            f"SELECT f.chunk_id, -bm25({FTS_TABLE}) AS rank FROM {FTS_TABLE} f "
            "JOIN knowledge_sources s ON s.id = f.source_id "
            f"WHERE {FTS_TABLE} MATCH :match AND f.org_id = :org_id AND {source_clause} "
            "ORDER BY rank DESC LIMIT :limit"
        )
    rows = db.session.execute(text(sql), bind).all()  # noqa: S608 - clauses are ours
    return [(r[0], float(r[1])) for r in rows]


def query_terms_raw(query: str) -> list[str]:
    """Words safe inside to_tsquery (letters and digits only); PostgreSQL stems them and
    drops each language's stop words itself."""
    return list(dict.fromkeys(w for w in words(query) if w.isalnum()))[:MAX_TERMS]
