"""Ranking and answer metrics, written out so what is measured is plain to read.

A ranking is the list of document ids a system returned for one query, best first, each
id once. nDCG is trec_eval's (and so BEIR's, through pytrec_eval): linear gain = the
judged grade, discount log2(rank + 1), ideal order from all judged documents.
"""
from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Sequence

from bench.quality.data import Query

_SPACE = re.compile(r"\s+")


def hit_at(ranking: Sequence[str], query: Query, k: int) -> float:
    return 1.0 if any(d in query.relevant for d in ranking[:k]) else 0.0


def rr_at(ranking: Sequence[str], query: Query, k: int) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if doc in query.relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranking: Sequence[str], query: Query, k: int) -> float:
    dcg = sum(query.relevant.get(doc, 0) / math.log2(rank + 1)
              for rank, doc in enumerate(ranking[:k], start=1))
    ideal = sorted(query.relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def recall_at(ranking: Sequence[str], query: Query, k: int) -> float:
    if not query.relevant:
        return 0.0
    return len(set(ranking[:k]) & set(query.relevant)) / len(query.relevant)


def ranking_figures(rankings: Sequence[Sequence[str]], queries: Sequence[Query],
                    depth: int) -> dict[str, float]:
    """Mean of every per-query figure the report shows; Recall@k only up to the depth the
    system was asked for (the product returns at most 50 hits)."""
    if len(rankings) != len(queries):
        raise ValueError("one ranking per query")
    n = max(1, len(queries))
    out = {
        "hit@1": sum(hit_at(r, q, 1) for r, q in zip(rankings, queries, strict=True)) / n,
        "hit@5": sum(hit_at(r, q, 5) for r, q in zip(rankings, queries, strict=True)) / n,
        "mrr@10": sum(rr_at(r, q, 10) for r, q in zip(rankings, queries, strict=True)) / n,
        "ndcg@10": sum(ndcg_at(r, q, 10) for r, q in zip(rankings, queries, strict=True)) / n,
    }
    for k in (50, 100):
        if depth >= k:
            out[f"recall@{k}"] = sum(recall_at(r, q, k)
                                     for r, q in zip(rankings, queries, strict=True)) / n
    return {k: round(v, 4) for k, v in out.items()}


def fold(text: str) -> str:
    """Case and accents folded, whitespace collapsed: "Perché  È" -> "perche e"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACE.sub(" ", bare.casefold()).strip()


def contains_gold(reply: str, golds: Sequence[str]) -> bool:
    folded = fold(reply)
    return any(fold(g) and fold(g) in folded for g in golds)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")
