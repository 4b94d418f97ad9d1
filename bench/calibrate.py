"""Fit the retrieval score (services.knowledge.scoring) through the product, on the
quality benchmark's data.

    python -m bench.calibrate [--limit-docs 300] [--limit-queries 500] [--offtopic 300]
                              [--english-docs 600 --english-queries 150] [--model NAME]

Italian (SQuAD-it): a seeded subset of paragraphs is ingested through the product's own
batched pipeline; its questions are answerable (the relevant passage is the question's
own paragraph) and questions whose paragraphs were left out are off-topic (nothing
should pass the gate). English (SciFact, optional): a subset with graded judgments.

Every question's candidates from `retrieval.search` become rows (features, grade). The
weights of cosine, coverage and fusion are chosen on a coarse grid for the best mean of
MRR@10 (Italian) and nDCG@10 (English, when run); the bias so that the gate (0.5) lets
through at most `--false-pass` of the off-topic Italian questions. It prints the figures
of the current score, of fusion alone and of the fitted one, and the `Calibration(...)`
to paste into `CALIBRATIONS`.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.quality import data as datasets
from bench.quality.product import embedded_app, ingest
from services.knowledge.scoring import GATE

EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
GRID = {"cosine": (10, 20, 30, 40, 60), "coverage": (0, 1, 2, 3, 6),
        "sentence_coverage": (0, 1, 2, 3, 5), "lexical_norm": (0, 1, 2, 4),
        "fusion": (0, 1, 2, 4, 8)}
# Columns of scoring.features() that GRID weighs, in GRID's order.
COLUMNS = (1, 2, 5, 6, 3)


@dataclass
class Rows:
    """Candidates of many questions: the rows of scoring.features()."""

    x: list[list[float]] = field(default_factory=list)
    grade: list[float] = field(default_factory=list)
    qid: list[int] = field(default_factory=list)
    current: list[float] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    ideal: dict[int, list[float]] = field(default_factory=dict)  # per question, for nDCG
    answerable: set[int] = field(default_factory=set)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.array(self.x), np.array(self.grade), np.array(self.qid),
                np.array(self.current))


def collect(data: datasets.Dataset, offtopic: list[datasets.Query], model: str | None,
            rows: Rows, first_qid: int) -> str:
    """Ingest `data` through the product and add every question's candidates."""
    from services.knowledge import retrieval, scoring

    workdir = Path(tempfile.mkdtemp(prefix=f"bench-calibrate-{data.key}-"))
    with embedded_app(workdir, model) as app:
        corpus = ingest(data, model or app.config["EMBEDDING_MODEL"], batch=100)
        qid = first_qid
        for query, answerable in [(q, True) for q in data.queries] + [(q, False)
                                                                       for q in offtopic]:
            for hit in retrieval.search(corpus.org, query.text, top_k=20):
                docs = corpus.docs_of_source.get(hit.source_id, [])
                rows.x.append(scoring.features(
                    hit.vector_score or 0.0, hit.coverage, hit.rank_score, hit.lexical_only,
                    sentence_coverage=hit.sentence_coverage, lexical_norm=hit.lexical_norm))
                rows.grade.append(max((query.relevant.get(d, 0) for d in docs), default=0))
                rows.qid.append(qid)
                rows.current.append(hit.score)
                rows.source.append(hit.source_id)
            if answerable:
                rows.answerable.add(qid)
                rows.ideal[qid] = sorted(query.relevant.values(), reverse=True)
            qid += 1
        return corpus.figures["model"]


def groups(qid: np.ndarray, which: set[int]) -> dict[int, np.ndarray]:
    """Row indexes of each question, computed once for the whole grid."""
    return {q: np.flatnonzero(qid == q) for q in which}


def ranking_quality(score: np.ndarray, rows: Rows, grade: np.ndarray, qid: np.ndarray,
                    which: set[int], index: dict[int, np.ndarray] | None = None
                    ) -> dict[str, float]:
    """hit@1, hit@5, MRR@10 and nDCG@10 over the answerable questions in `which`, one
    entry per source (a source's best chunk ranks it)."""
    index = index or groups(qid, which)
    h1 = h5 = mrr = ndcg = 0.0
    for q in which:
        idx = index[q]
        order, seen = [], set()
        for i in idx[np.argsort(-score[idx], kind="stable")]:
            if rows.source[i] not in seen:  # a source ranks where its best chunk does
                seen.add(rows.source[i])
                order.append(i)
        grades = grade[order]
        hits = np.flatnonzero(grades > 0)
        if len(hits):
            h1 += hits[0] == 0
            h5 += hits[0] < 5
            mrr += 1.0 / (hits[0] + 1) if hits[0] < 10 else 0.0
        dcg = sum(g / math.log2(r + 2) for r, g in enumerate(grades[:10]))
        ideal = sum(g / math.log2(r + 2) for r, g in enumerate(rows.ideal[q][:10]))
        ndcg += dcg / ideal if ideal else 0.0
    n = max(1, len(which))
    return {"hit@1": round(h1 / n, 4), "hit@5": round(h5 / n, 4),
            "mrr@10": round(mrr / n, 4), "ndcg@10": round(ndcg / n, 4)}


def gate_quality(score: np.ndarray, grade: np.ndarray, qid: np.ndarray, answerable: set[int],
                 offtopic: set[int], gate: float) -> dict[str, float]:
    right = passing = off = 0
    for q in answerable:
        idx = np.flatnonzero(qid == q)
        top = idx[np.argmax(score[idx])]
        passing += score[top] >= gate
        right += bool(score[top] >= gate and grade[top] > 0)
    for q in offtopic:
        idx = np.flatnonzero(qid == q)
        off += score[idx].max() >= gate if len(idx) else 0
    return {"answerable passing gate": round(passing / max(1, len(answerable)), 4),
            "top is relevant and passes gate": round(right / max(1, len(answerable)), 4),
            "off-topic passing gate": round(off / max(1, len(offtopic)), 4)}


def fit(x: np.ndarray, grade: np.ndarray, qid: np.ndarray, rows: Rows,
        italian: set[int], english: set[int]) -> tuple[float, ...]:
    """The grid point with the best mean of MRR@10 (Italian) and nDCG@10 (English)."""
    best: tuple[float, tuple[float, ...]] = (-1.0, (1.0,) + (0.0,) * (len(GRID) - 1))
    columns = x[:, COLUMNS]
    it_index, en_index = groups(qid, italian), groups(qid, english)
    for weights in itertools.product(*GRID.values()):
        score = columns @ np.array(weights, dtype=float)
        parts = []
        if italian:
            parts.append(ranking_quality(score, rows, grade, qid, italian,
                                         it_index)["mrr@10"])
        if english:
            parts.append(ranking_quality(score, rows, grade, qid, english,
                                         en_index)["ndcg@10"])
        value = sum(parts) / len(parts)
        if value > best[0] + 1e-9:
            best = (value, tuple(float(w) for w in weights))
    return best[1]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate")
    parser.add_argument("--limit-docs", type=int, default=300)
    parser.add_argument("--limit-queries", type=int, default=500)
    parser.add_argument("--offtopic", type=int, default=300)
    parser.add_argument("--english-docs", type=int, default=0)
    parser.add_argument("--english-queries", type=int, default=150)
    parser.add_argument("--false-pass", type=float, default=0.05)
    parser.add_argument("--model", default=None)
    parser.add_argument("--keep-weights", action="store_true",
                        help="keep the model's current weights; fit the bias only")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--eval-dir", default=str(EVAL_DIR))
    args = parser.parse_args(argv)
    try:
        italian_all = datasets.load_squad_it(Path(args.eval_dir))
    except datasets.Missing as exc:
        print(f"skipped: {exc}")
        return {}
    # Whole articles (documents are numbered in article order), so that questions about
    # the articles left out are off-topic; a margin skips the article cut in two.
    order = [d.id for d in italian_all.docs]
    kept = set(order[: args.limit_docs])
    far = set(order[args.limit_docs + 60:])
    inside = [q for q in italian_all.queries if set(q.relevant) <= kept]
    rng = random.Random(args.seed)
    italian = replace(italian_all, docs=[d for d in italian_all.docs if d.id in kept],
                      queries=rng.sample(inside, min(args.limit_queries, len(inside))))
    outside = [q for q in italian_all.queries if set(q.relevant) <= far]
    offtopic = rng.sample(outside, min(args.offtopic, len(outside)))

    rows = Rows()
    model = collect(italian, offtopic, args.model, rows, 0)
    it_ids = set(rows.answerable)
    off_ids = set(range(len(italian.queries), len(italian.queries) + len(offtopic)))
    en_ids: set[int] = set()
    if args.english_docs:
        english = datasets.subset(datasets.load_scifact(Path(args.eval_dir)),
                                  limit_docs=args.english_docs,
                                  limit_queries=args.english_queries, seed=args.seed)
        start = max(rows.qid) + 1
        collect(english, [], args.model, rows, start)
        en_ids = set(rows.answerable) - it_ids

    x, grade, qid, current = rows.arrays()
    if args.keep_weights:
        from services.knowledge.scoring import calibration_for

        weights = tuple(float(getattr(calibration_for(model), name)) for name in GRID)
    else:
        weights = fit(x, grade, qid, rows, it_ids, en_ids)
    raw = x[:, COLUMNS] @ np.array(weights)
    off_tops = [raw[qid == q].max() for q in off_ids if np.any(qid == q)]
    threshold = float(np.quantile(off_tops, 1.0 - args.false_pass)) if off_tops else 0.0
    print("\nThe gate's trade-off (bias chosen so that this share of off-topic questions "
          "passes):")
    for share in (0.02, 0.05, 0.10, 0.15, 0.20, 0.30):
        cut = float(np.quantile(off_tops, 1.0 - share)) if off_tops else 0.0
        figures = gate_quality(1.0 / (1.0 + np.exp(-np.clip(raw - cut, -40, 40))), grade, qid,
                               it_ids, off_ids, GATE)
        print(f"  off-topic {share:.2f}: bias {-cut:.3f}, " + ", ".join(
            f"{name} {value}" for name, value in figures.items()))
    fitted = 1.0 / (1.0 + np.exp(-np.clip(raw - threshold, -40, 40)))

    report: dict[str, Any] = {"model": model, "italian questions": len(it_ids),
                              "off-topic": len(off_ids), "english claims": len(en_ids)}
    for name, score in (("current", current), ("fusion only", x[:, 3]), ("fitted", fitted)):
        figures = {"italian": ranking_quality(score, rows, grade, qid, it_ids)}
        if en_ids:
            figures["english"] = ranking_quality(score, rows, grade, qid, en_ids)
        if name != "fusion only":
            figures["gate"] = gate_quality(score, grade, qid, it_ids, off_ids, GATE)
        report[name] = figures
    print(json.dumps(report, indent=2))
    named = ", ".join(f"{name}={w:.1f}" for name, w in zip(GRID, weights, strict=True))
    print(f"\nCalibration(bias={-threshold:.3f}, cosine_center=0.0, {named})")
    return report


if __name__ == "__main__":
    main()
