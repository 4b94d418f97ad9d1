"""Fit the retrieval score (services.knowledge.scoring) on SQuAD-it, through the product.

    python -m bench.calibrate [--paragraphs 400] [--questions 600] [--model NAME]

Paragraphs of the first articles are ingested as text files through the product's own
batched pipeline; their questions are positives (the relevant passage is the question's
own paragraph), and questions of articles *not* ingested are off-topic Italian questions
(nothing should pass the gate). Each question's candidates from `retrieval.search` are
labelled, and a logistic regression over the scoring features (bias, cosine, coverage,
fusion, lexical-only) is fitted by Newton's method with a small ridge. It prints the
coefficients to paste into `CALIBRATIONS`, and the ranking and gate figures before and
after, so a change is judged on numbers.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_DIR

EVAL_DIR = REPO_DIR.parent / "shared" / "eval"
SQUAD_IT = EVAL_DIR / "squad-it-dev.json.gz"


def load_squad(path: Path = SQUAD_IT) -> list[dict[str, Any]]:
    """Articles as [{"title", "paragraphs": [{"context", "qas": [{"question", "answers"}]}]}]."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)["data"]


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = 1e-2,
                 iterations: int = 50) -> np.ndarray:
    """Newton/IRLS for logistic regression; column 0 is the bias (not penalized)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], ridge)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
        gradient = x.T @ (p - y) + penalty * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return w


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate")
    parser.add_argument("--paragraphs", type=int, default=400)
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--offtopic", type=int, default=200)
    parser.add_argument("--model", default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--false-pass", type=float, default=0.05,
                        help="share of off-topic questions allowed through the gate")
    parser.add_argument("--rows", default=None,
                        help="an .npz of labelled candidates to save to, or to refit from")
    args = parser.parse_args(argv)
    if args.rows and Path(args.rows).exists():
        saved = np.load(args.rows)
        return _fit_and_report(saved["x"], saved["y"], saved["qids"], saved["current"],
                               int(saved["n_pos"]), str(saved["model"]), args.false_pass)
    if not SQUAD_IT.exists():
        print(f"skipped: {SQUAD_IT} is absent (see shared/eval/README.md)")
        return {}

    from flask_migrate import upgrade

    from factory import create_app
    from services.knowledge import retrieval, scoring
    from services.knowledge.sources import create_files
    from services.knowledge.vectors import org_model
    from services.orgs import create_organization

    articles = load_squad()
    paragraphs: list[str] = []
    positives: list[tuple[str, int]] = []
    offtopic: list[str] = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            if len(paragraphs) < args.paragraphs:
                paragraphs.append(paragraph["context"])
                positives += [(qa["question"], len(paragraphs) - 1) for qa in paragraph["qas"]]
            else:
                offtopic += [qa["question"] for qa in paragraph["qas"]]
    rng = random.Random(args.seed)
    positives = rng.sample(positives, min(args.questions, len(positives)))
    offtopic = rng.sample(offtopic, min(args.offtopic, len(offtopic)))

    tmp = Path(tempfile.mkdtemp(prefix="bench-calibrate-"))
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/db.sqlite",
              "INDEX_DIR": str(tmp / "indexes"), "STORAGE_DIR": str(tmp / "storage"),
              "JOBS_MODE": "sync", "RATELIMIT_STORAGE_URI": "memory://",
              "ANTHROPIC_API_KEY": None}
    if args.model:
        config["EMBEDDING_MODEL"] = args.model
    app = create_app(config)
    with app.app_context():
        upgrade(revision="heads")
        org = create_organization("bench-calibrate")
        started = time.perf_counter()
        source_of: dict[int, str] = {}
        for start in range(0, len(paragraphs), 64):
            batch = paragraphs[start:start + 64]
            stored, _job = create_files(org, [(p.encode(), f"p{start + i}.txt", None)
                                              for i, p in enumerate(batch)])
            for i, (source, _dup) in enumerate(stored):
                source_of[start + i] = source.id
        ingest_s = time.perf_counter() - started
        model = org_model(org)
        print(f"ingested {len(paragraphs)} paragraphs in {ingest_s:.1f}s with {model}")

        rows: list[tuple[list[float], int, int, float]] = []  # features, label, qid, score
        started = time.perf_counter()
        questions = [(q, source_of[p]) for q, p in positives] + [(q, None) for q in offtopic]
        for qid, (question, gold) in enumerate(questions):
            for hit in retrieval.search(org, question, top_k=20):
                feats = scoring.features(hit.vector_score or 0.0, hit.coverage,
                                         hit.rank_score, hit.lexical_only)
                rows.append((feats, int(hit.source_id == gold), qid, hit.score))
        search_s = time.perf_counter() - started
        print(f"searched {len(questions)} questions in {search_s:.1f}s")

    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows], dtype=float)
    qids = np.array([r[2] for r in rows])
    current = np.array([r[3] for r in rows])
    if args.rows:
        np.savez(args.rows, x=x, y=y, qids=qids, current=current, n_pos=len(positives),
                 model=model)
    return _fit_and_report(x, y, qids, current, len(positives), model, args.false_pass)


def _fit_and_report(x: np.ndarray, y: np.ndarray, qids: np.ndarray, current: np.ndarray,
                    n_pos: int, model: str, false_pass: float) -> dict[str, Any]:
    """Fit, then move the bias so the gate (0.5) lets through at most `false_pass` of the
    off-topic questions: the probability's scale is set by where the gate must sit."""
    from services.knowledge import scoring

    w = fit_logistic(x, y)
    raw = x @ w
    off_tops = [raw[qids == q].max() for q in np.unique(qids) if q >= n_pos]
    threshold = float(np.quantile(off_tops, 1.0 - false_pass)) if off_tops else 0.0
    w[0] -= threshold  # logit(0.5) = 0: the chosen threshold becomes the gate
    fitted = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
    names = ["bias", "cosine", "coverage", "fusion", "lexical_only"]
    report: dict[str, Any] = {"model": model, "questions": n_pos,
                              "offtopic": int(len(np.unique(qids)) - n_pos),
                              "weights": dict(zip(names, w.round(3).tolist(), strict=True))}
    for name, score in (("current", current), ("fusion only", x[:, 3]), ("fitted", fitted)):
        report[name] = _figures(score, y, qids, n_pos, scoring.GATE)
    print(json.dumps(report, indent=2))
    print(f"\nCalibration(bias={w[0]:.3f}, cosine={w[1]:.3f}, cosine_center=0.0, "
          f"coverage={w[2]:.3f}, fusion={w[3]:.3f}, lexical_only={w[4]:.3f})")
    return report


def _figures(score: np.ndarray, y: np.ndarray, qids: np.ndarray, n_pos: int,
             gate: float = 0.5) -> dict[str, float]:
    hit1 = hit5 = mrr = 0.0
    answered_right = answered_offtopic = answered = 0
    n_off = int(qids.max()) + 1 - n_pos if len(qids) else 0
    for qid in np.unique(qids):
        mask = qids == qid
        order = np.argsort(-score[mask], kind="stable")
        labels = y[mask][order]
        top = score[mask][order][0]
        if qid < n_pos:
            answered += bool(top >= gate)
            hits = np.flatnonzero(labels)
            if len(hits):
                rank = hits[0] + 1
                hit1 += rank == 1
                hit5 += rank <= 5
                mrr += 1.0 / rank if rank <= 10 else 0.0
                answered_right += bool(rank == 1 and top >= gate)
        elif top >= gate:
            answered_offtopic += 1
    return {"hit@1": round(hit1 / n_pos, 4), "hit@5": round(hit5 / n_pos, 4),
            "mrr@10": round(mrr / n_pos, 4),
            "top is gold and passes gate": round(answered_right / n_pos, 4),
            "answerable passing gate": round(answered / n_pos, 4),
            "off-topic passing gate": round(answered_offtopic / max(1, n_off), 4)}


if __name__ == "__main__":
    main()
