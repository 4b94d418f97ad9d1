"""Fit the retrieval score (services.knowledge.scoring) through the product, on the
quality benchmark's data.

    python -m bench.calibrate [--limit-docs 300] [--limit-queries 500] [--offtopic 300]
                              [--no-support] [--english-docs 600 --english-queries 150]
                              [--false-pass 0.1] [--model NAME]

Italian (SQuAD-it): a seeded subset of paragraphs is ingested through the product's own
batched pipeline; its questions are answerable (the relevant passage is the question's
own paragraph) and questions whose paragraphs were left out are off-topic (nothing
should pass the gate). Support guides (bench.bilingual's data, unless `--no-support`):
each guide in an organization of its own, each section a passage, each question asked in
Italian and in English. English (SciFact, optional): a subset with graded judgments.

SQuAD-it's questions were written while reading their paragraph and repeat its words; a
customer's question to a support guide paraphrases it. Fitted on SQuAD-it alone, the
word features (above all the full-text score relative to the search's best) outweighed
meaning, and on the guides the right section came first for 0.60 of the questions where
the cosine alone puts it first for 0.70. So the weights are fitted on both kinds.

Every question's candidates from `retrieval.search` become rows (features, grade). The
weights are chosen on a grid for the best of: MRR@10 on SQuAD-it, counted twice, plus
MRR@10 of the guides' Italian and of their English questions (plus nDCG@10 on SciFact,
when run); a split-half check fits on half of the guides' sections and measures the other
half. The bias is chosen so that the gate (0.5) lets through at most `--false-pass` of the
off-topic SQuAD-it questions (the guides' own off-topic share is printed beside it). It
prints the figures of the current score, of fusion alone and of the fitted one, and the
`Calibration(...)` to paste into `CALIBRATIONS`.
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
GRID = {"cosine": (20, 30, 40, 50, 60), "coverage": (0, 1, 2, 3, 4),
        "sentence_coverage": (0, 1, 1.5, 2, 3), "lexical_norm": (0, 0.5, 1, 2),
        "fusion": (0, 0.5, 1), "sentence_cosine": (0, 20, 30, 40, 50)}
# Columns of scoring.features() that GRID weighs, in GRID's order.
COLUMNS = (1, 2, 5, 6, 3, 7)
SQUAD_WEIGHT = 2.0  # SQuAD-it counts as much as the guides' two languages together


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
    cross: list[float] = field(default_factory=list)  # 1: asked in another language
    label: dict[int, str] = field(default_factory=dict)  # a guide question's data-file id

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.array(self.x), np.array(self.grade), np.array(self.qid),
                np.array(self.current))


def collect(data: datasets.Dataset, offtopic: list[datasets.Query], model: str | None,
            rows: Rows, first_qid: int) -> str:
    """Ingest `data` through the product and add every question's candidates."""
    from services.knowledge import retrieval

    workdir = Path(tempfile.mkdtemp(prefix=f"bench-calibrate-{data.key}-"))
    with embedded_app(workdir, model) as app:
        corpus = ingest(data, model or app.config["EMBEDDING_MODEL"], batch=100)
        qid = first_qid
        for query, answerable in [(q, True) for q in data.queries] + [(q, False)
                                                                       for q in offtopic]:
            asked = retrieval.asked_in(query.text)
            for hit in retrieval.search(corpus.org, query.text, top_k=20):
                docs = corpus.docs_of_source.get(hit.source_id, [])
                add_row(rows, hit, qid, asked,
                        max((query.relevant.get(d, 0) for d in docs), default=0),
                        hit.source_id)
            if answerable:
                rows.answerable.add(qid)
                rows.ideal[qid] = sorted(query.relevant.values(), reverse=True)
            qid += 1
        return corpus.figures["model"]


def add_row(rows: Rows, hit: Any, qid: int, asked: str | None, grade: float,
            unit: str) -> None:
    """One candidate; `unit` is what ranks (a source, or a section of one guide)."""
    from services.knowledge import retrieval, scoring

    rows.x.append(scoring.features(
        hit.vector_score or 0.0, hit.coverage, hit.rank_score, hit.lexical_only,
        sentence_coverage=hit.sentence_coverage, lexical_norm=hit.lexical_norm,
        sentence_cosine=hit.sentence_cosine))
    rows.cross.append(1.0 if retrieval.cross_language(asked, hit.language) else 0.0)
    rows.grade.append(grade)
    rows.qid.append(qid)
    rows.current.append(hit.score)
    rows.source.append(unit)


def collect_support(model: str | None, rows: Rows, first_qid: int) -> dict[str, set[int]]:
    """bench.bilingual's guides, one organization each: every section is a passage of its
    own, so the unit that ranks is the chunk. Returns the question ids by part."""
    from bench import bilingual

    parts: dict[str, set[int]] = {"it": set(), "en": set(), "off it": set(), "off en": set()}
    workdir = Path(tempfile.mkdtemp(prefix="bench-calibrate-support-"))
    with embedded_app(workdir, model):
        data = bilingual.load()
        asked = bilingual.ask_all(data, bilingual.ingest(data, model))
        for qid, a in enumerate(asked, start=first_qid):
            for hit in a.candidates:
                add_row(rows, hit, qid, a.detected,
                        1.0 if hit.chunk_id in a.right else 0.0, hit.chunk_id)
            if a.section is None:
                parts[f"off {a.language}"].add(qid)
            else:
                parts[a.language].add(qid)
                rows.answerable.add(qid)
                rows.ideal[qid] = [1.0]
                rows.label[qid] = a.question
    return parts


def groups(qid: np.ndarray, which: set[int]) -> dict[int, np.ndarray]:
    """Row indexes of each question, computed once for the whole grid."""
    return {q: np.flatnonzero(qid == q) for q in which}


def unit_grades(score: np.ndarray, rows: Rows, grade: np.ndarray, idx: np.ndarray,
                stop_at_relevant: bool = False) -> list[float]:
    """Grades of the first 10 units of one question (a unit ranks where its best row
    does): all that hit@k, MRR@10 and nDCG@10 look at; MRR may stop at the first hit."""
    grades: list[float] = []
    seen: set[str] = set()
    for i in idx[np.argsort(-score[idx], kind="stable")]:
        if rows.source[i] in seen:
            continue
        seen.add(rows.source[i])
        grades.append(grade[i])
        if len(grades) == 10 or (stop_at_relevant and grade[i] > 0):
            break
    return grades


def ndcg10(grades: list[float], ideal: list[float]) -> float:
    dcg = sum(g / math.log2(r + 2) for r, g in enumerate(grades[:10]))
    best = sum(g / math.log2(r + 2) for r, g in enumerate(ideal[:10]))
    return dcg / best if best else 0.0


def ranking_quality(score: np.ndarray, rows: Rows, grade: np.ndarray, qid: np.ndarray,
                    which: set[int], index: dict[int, np.ndarray] | None = None
                    ) -> dict[str, float]:
    """hit@1, hit@5, MRR@10 and nDCG@10 over the answerable questions in `which`, one
    entry per source (a source's best chunk ranks it)."""
    index = index or groups(qid, which)
    h1 = h5 = mrr = ndcg = 0.0
    for q in which:
        grades = unit_grades(score, rows, grade, index[q])
        first = next((r for r, g in enumerate(grades) if g > 0), None)
        if first is not None:
            h1 += first == 0
            h5 += first < 5
            mrr += 1.0 / (first + 1)
        ndcg += ndcg10(grades, rows.ideal[q])
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


def per_question(score: np.ndarray, rows: Rows, grade: np.ndarray,
                 index: dict[int, np.ndarray], metric: str) -> dict[int, float]:
    """MRR@10 ("mrr") or nDCG@10 ("ndcg") of each question in `index`, one entry per unit."""
    out = {}
    for q, idx in index.items():
        grades = unit_grades(score, rows, grade, idx, stop_at_relevant=metric == "mrr")
        if metric == "mrr":
            out[q] = 1.0 / len(grades) if grades and grades[-1] > 0 else 0.0
        else:
            out[q] = ndcg10(grades, rows.ideal[q])
    return out


@dataclass
class Part:
    """A set of questions in the objective: its metric and its weight."""

    name: str
    ids: set[int]
    metric: str  # "mrr" | "ndcg"
    weight: float


def grid_values(x: np.ndarray, cross: np.ndarray, cross_weight: float, grade: np.ndarray,
                qid: np.ndarray, rows: Rows, parts: list[Part]
                ) -> dict[tuple[float, ...], dict[int, float]]:
    """Every grid point's per-question figures, so that any subset (a split half) is
    scored without ranking again."""
    columns = x[:, COLUMNS]
    index = {p.name: groups(qid, p.ids) for p in parts}
    values = {}
    for weights in itertools.product(*GRID.values()):
        score = columns @ np.array(weights, dtype=float) + cross_weight * cross
        merged: dict[int, float] = {}
        for p in parts:
            merged.update(per_question(score, rows, grade, index[p.name], p.metric))
        values[tuple(float(w) for w in weights)] = merged
    return values


def objective(values: dict[int, float], parts: list[Part],
              keep: set[int] | None = None) -> float:
    """The weighted sum of each part's mean over its questions (inside `keep`)."""
    total = 0.0
    for p in parts:
        ids = [q for q in p.ids if keep is None or q in keep]
        if ids:
            total += p.weight * sum(values[q] for q in ids) / len(ids)
    return total


def fit(grid: dict[tuple[float, ...], dict[int, float]], parts: list[Part],
        keep: set[int] | None = None) -> tuple[float, ...]:
    """The grid point with the best objective (the first one on ties)."""
    best, best_value = next(iter(grid)), -1.0
    for weights, values in grid.items():
        value = objective(values, parts, keep)
        if value > best_value + 1e-9:
            best, best_value = weights, value
    return best


def split_half(grid: dict[tuple[float, ...], dict[int, float]], parts: list[Part],
               rows: Rows, squad: set[int], shipped: tuple[float, ...]) -> list[list[Any]]:
    """Fit with half of the guides' sections (all of SQuAD-it), measure the other half."""
    labels = sorted(set(rows.label.values()))
    halves = [set(labels[0::2]), set(labels[1::2])]
    out = []
    for i, train in enumerate(halves):
        keep = squad | {q for q, lab in rows.label.items() if lab in train}
        test = squad | {q for q, lab in rows.label.items() if lab not in train}
        for name, w in (("fitted", fit(grid, parts, keep)), ("shipped", shipped)):
            if w in grid:
                out.append([f"fit on half {i + 1}, measured on half {2 - i}", name, str(w),
                            *(round(objective(grid[w], [p], test) / p.weight, 4)
                              for p in parts)])
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate")
    parser.add_argument("--limit-docs", type=int, default=300)
    parser.add_argument("--limit-queries", type=int, default=500)
    parser.add_argument("--offtopic", type=int, default=300)
    parser.add_argument("--english-docs", type=int, default=0)
    parser.add_argument("--english-queries", type=int, default=150)
    parser.add_argument("--false-pass", type=float, default=0.10)
    parser.add_argument("--no-support", dest="support", action="store_false",
                        help="fit on SQuAD-it (and SciFact) only, without the guides")
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
    parts = [Part("SQuAD-it", it_ids, "mrr", SQUAD_WEIGHT)]
    support: dict[str, set[int]] = {}
    if args.support:
        support = collect_support(args.model, rows, max(rows.qid) + 1)
        parts += [Part("guides, Italian questions", support["it"], "mrr", 1.0),
                  Part("guides, English questions", support["en"], "mrr", 1.0)]
    if args.english_docs:
        english = datasets.subset(datasets.load_scifact(Path(args.eval_dir)),
                                  limit_docs=args.english_docs,
                                  limit_queries=args.english_queries, seed=args.seed)
        before = set(rows.answerable)
        collect(english, [], args.model, rows, max(rows.qid) + 1)
        parts.append(Part("SciFact", set(rows.answerable) - before, "ndcg", 1.0))

    from services.knowledge.scoring import calibration_for

    shipped = calibration_for(model)
    cross_weight = shipped.cross_language  # fitted by bench.bilingual, with these weights
    x, grade, qid, current = rows.arrays()
    cross = np.array(rows.cross)
    shipped_weights = tuple(float(getattr(shipped, name)) for name in GRID)
    if args.keep_weights:
        weights = shipped_weights
    else:
        grid = grid_values(x, cross, cross_weight, grade, qid, rows, parts)
        weights = fit(grid, parts)
        if args.support:
            print("\nSplit-half check (mean per part; a half is half of the guides' "
                  "sections, SQuAD-it whole):")
            for row in split_half(grid, parts, rows, it_ids, shipped_weights):
                print("  " + " | ".join(str(v) for v in row))
    raw = x[:, COLUMNS] @ np.array(weights) + cross_weight * cross
    off_tops = [raw[qid == q].max() for q in off_ids if np.any(qid == q)]
    threshold = float(np.quantile(off_tops, 1.0 - args.false_pass)) if off_tops else 0.0
    print("\nThe gate's trade-off (bias chosen so that this share of off-topic SQuAD-it "
          "questions passes):")
    for share in (0.02, 0.05, 0.10, 0.15, 0.20, 0.30):
        cut = float(np.quantile(off_tops, 1.0 - share)) if off_tops else 0.0
        figures = gate_quality(1.0 / (1.0 + np.exp(-np.clip(raw - cut, -40, 40))), grade, qid,
                               it_ids, off_ids, GATE)
        print(f"  off-topic {share:.2f}: bias {-cut:.3f}, " + ", ".join(
            f"{name} {value}" for name, value in figures.items()))
    fitted = 1.0 / (1.0 + np.exp(-np.clip(raw - threshold, -40, 40)))

    report: dict[str, Any] = {"model": model, "cross_language (kept)": cross_weight,
                              **{p.name: len(p.ids) for p in parts},
                              "off-topic (SQuAD-it)": len(off_ids)}
    for name, score in (("current", current), ("fusion only", x[:, 3]), ("fitted", fitted)):
        figures: dict[str, Any] = {p.name: ranking_quality(score, rows, grade, qid, p.ids)
                                   for p in parts}
        if name != "fusion only":
            figures["gate, SQuAD-it"] = gate_quality(score, grade, qid, it_ids, off_ids, GATE)
            for lang in ("it", "en") if support else ():
                figures[f"gate, guides ({lang})"] = gate_quality(
                    score, grade, qid, support[lang], support[f"off {lang}"], GATE)
        report[name] = figures
    print(json.dumps(report, indent=2, default=float))
    named = ", ".join(f"{name}={w:g}" for name, w in zip(GRID, weights, strict=True))
    print(f"\nCalibration(bias={-threshold:.3f}, cosine_center=0.0, {named}, "
          f"cross_language={cross_weight:g})")
    return report


if __name__ == "__main__":
    main()
