"""Orchestration, report and targets of `python -m bench.quality` (see the package doc)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, RESULTS, Report
from bench.quality import product, references
from bench.quality.data import DEFAULT_EVAL_DIR, LOADERS, Dataset, Missing, subset
from bench.quality.metrics import ranking_figures

E5, MINILM = "multilingual-e5-small", "all-MiniLM-L6-v2"
OUT_DIR = BENCH_DIR / "out"
LABELS = {"it": "Italian — SQuAD-it", "en": "English — SciFact (train)"}


class Phases:
    """Wall time per phase, printed as each one ends."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float]] = []

    def run(self, dataset: str, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        print(f"[{dataset}] {name} ...", flush=True)
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - t
        self.rows.append((dataset, name, seconds))
        print(f"[{dataset}] {name}: {seconds:.1f} s", flush=True)
        return result


def evaluate(data: Dataset, *, model: str, ref_models: list[str], cache_dir: Path,
             answers: int, seed: int, batch: int, rate_sample: int,
             phases: Phases) -> dict[str, Any]:
    """Every system on one dataset; rankings scored by the same functions."""
    k, queries = data.key, data.queries
    systems: dict[str, dict[str, Any]] = {}
    for stemmed in (False, True):
        name = "BM25 stemmed" if stemmed else "BM25 plain"
        ranks = phases.run(k, name, references.bm25_rankings, data, stemmed=stemmed)
        systems[name] = ranking_figures(ranks, queries, references.DEPTH)
    raw_costs = {}
    for ref in ref_models:
        ranks, raw_costs[ref] = phases.run(k, f"raw {ref}", references.model_rankings,
                                           data, ref, cache_dir)
        systems[f"raw {ref}"] = ranking_figures(ranks, queries, references.DEPTH)

    corpus = phases.run(k, f"product ingest ({model})", product.ingest, data, model,
                        batch=batch)
    ranks, search10 = phases.run(k, "product search top_k=10", product.search_rankings,
                                 corpus, queries, product.SEARCH_DEPTH)
    ours = ranking_figures(ranks, queries, product.SEARCH_DEPTH)
    searches = {"top_k_10": search10}
    if k == "en":
        ranks50, searches["top_k_50"] = phases.run(
            k, "product search top_k=50", product.search_rankings, corpus, queries,
            product.RECALL_DEPTH)
        ours["recall@50"] = ranking_figures(ranks50, queries, 50)["recall@50"]
    systems[f"product ({model})"] = ours

    figures: dict[str, Any] = {"name": data.name, "documents": len(data.docs),
                               "queries": len(queries), "notes": data.notes,
                               "systems": systems, "product_system": f"product ({model})",
                               "search": searches, "ingest": corpus.figures,
                               "raw_encoding": raw_costs}
    if k == "it" and answers > 0:
        figures["answers"] = phases.run(k, f"product answers ({answers} questions)",
                                        product.answer_sample, corpus, data, answers, seed)
    texts = product.chunk_texts(corpus, rate_sample, seed)
    figures["encode_rate"] = {m: phases.run(k, f"encode rate {m} ({len(texts)} chunks)",
                                            references.encode_rate, m, texts)
                              for m in dict.fromkeys([E5, MINILM, model])}
    return figures


# ----------------------------------------------------------------------------- targets
def targets(figs: dict[str, Any]) -> list[tuple[str, str, float, str, bool | None]]:
    """(dataset, target, figure, threshold, met) — figures from this run only."""
    out: list[tuple[str, str, float, str, bool | None]] = []
    it, en = figs.get("it"), figs.get("en")
    if it:
        ours, bm25 = it["systems"][it["product_system"]], it["systems"]["BM25 plain"]
        out.append(("it", "retrieval hit@5 >= 0.95", ours["hit@5"], "0.95",
                    ours["hit@5"] >= 0.95))
        need = bm25["mrr@10"] + 0.05
        out.append(("it", "retrieval MRR@10 >= BM25 plain + 0.05", ours["mrr@10"],
                    f"{need:.3f}", ours["mrr@10"] >= need))
        a = it.get("answers")
        if a:
            out.append(("it", "answers contain a gold answer >= 70%", a["gold"], "0.70",
                        a["gold"] >= 0.70))
            out.append(("it", "answers cite the right paragraph >= 85%", a["cites"], "0.85",
                        a["cites"] >= 0.85))
            out.append(("it", "median reply <= 350 characters", a["median_chars"], "350",
                        a["median_chars"] <= 350))
    if en:
        ours, bm25 = en["systems"][en["product_system"]], en["systems"]["BM25 plain"]
        need = bm25["ndcg@10"] + 0.03
        out.append(("en", "nDCG@10 >= BM25 plain + 0.03", ours["ndcg@10"], f"{need:.3f}",
                    ours["ndcg@10"] >= need))
    return out


# ------------------------------------------------------------------------------ report
def report_dataset(report: Report, key: str, f: dict[str, Any]) -> None:
    prod = f["product_system"]
    base = f["systems"]["BM25 plain"]
    order = [prod, "BM25 plain", "BM25 stemmed"] + [
        s for s in f["systems"] if s.startswith("raw ")]
    title = (f"{LABELS[key]}: retrieval, {f['queries']:,} queries over {f['documents']:,} "
             "documents")
    if key == "it":
        header = ["system", "hit@1", "hit@5", "MRR@10", "nDCG@10", "MRR@10 − BM25 plain"]
        rows = [[s, *(f["systems"][s][m] for m in ("hit@1", "hit@5", "mrr@10", "ndcg@10")),
                 round(f["systems"][s]["mrr@10"] - base["mrr@10"], 4)] for s in order]
    else:
        header = ["system", "nDCG@10", "Recall@50", "Recall@100", "MRR@10",
                  "nDCG@10 − BM25 plain"]
        rows = [[s, f["systems"][s]["ndcg@10"], f["systems"][s].get("recall@50", math.nan),
                 f["systems"][s].get("recall@100", math.nan), f["systems"][s]["mrr@10"],
                 round(f["systems"][s]["ndcg@10"] - base["ndcg@10"], 4)] for s in order]
    report.table(title, header, rows)
    a = f.get("answers")
    if a:
        types = ", ".join(f"{t} {n}" for t, n in sorted(a["answer_types"].items()))
        report.table(
            f"{LABELS[key]}: answers through the conversation service, {a['questions']} "
            f"questions (seeded sample, seed {a['seed']}; engine {', '.join(a['engine'])})",
            ["figure", "value"],
            [["reply contains a gold answer (folded)", a["gold"]],
             ["reply cites the question's paragraph", a["cites"]],
             ["both", a["gold_and_cites"]],
             ["paragraph among the passages the engine was given (top 5)", a["retrieved"]],
             ["paragraph first of the passages passing the gate", a.get("passing_first")],
             ["paragraph among the first two passing the gate", a.get("passing_two")],
             ["median reply characters", a["median_chars"]],
             ["answer types", types],
             ["post_message p50 / p95 ms", f"{a['latency'].get('p50_ms', math.nan):.0f} / "
                                           f"{a['latency'].get('p95_ms', math.nan):.0f}"]])


def report_cost(report: Report, figs: dict[str, Any], model: str) -> None:
    rows = []
    for key, f in figs.items():
        ing, rate = f["ingest"], f["encode_rate"]
        same = rate.get(model, {}).get("s_per_text", math.nan)
        rows.append([LABELS[key], ing["documents"], ing["sources"], ing["chunks"],
                     ing["seconds"], ing["s_per_chunk"], rate[E5]["s_per_text"],
                     rate[MINILM]["s_per_text"],
                     round(ing["s_per_chunk"] / same, 2) if same else math.nan])
    lat = [[LABELS[key], s["top_k"], s["latency"]["p50_ms"], s["latency"]["p95_ms"],
            s["mean_documents"]] for key, f in figs.items() for s in f["search"].values()]
    report.table("Product search: `retrieval.search` per query (query embedding included)",
                 ["dataset", "top_k", "p50 ms", "p95 ms", "documents per query"], lat)
    report.table(f"Ingestion cost: product path (create_files → job inline, {model}) vs raw "
                 "encode of a sample of the same chunks",
                 ["dataset", "documents", "sources", "chunks", "product s",
                  "product s/chunk", f"raw {E5} s/chunk", f"raw {MINILM} s/chunk",
                  "product ÷ raw (same model)"], rows)


def write_json(figures: dict[str, Any], path: Path) -> None:
    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(figures), indent=2, ensure_ascii=False) + "\n")
    print(f"figures written to {path}", flush=True)


# -------------------------------------------------------------------------------- main
def main(*, datasets: tuple[str, ...] = ("it", "en"), model: str | None = None,
         ref_models: tuple[str, ...] = (E5, MINILM), eval_dir: Path | str | None = None,
         cache_dir: Path | str | None = None, limit_docs: int | None = None,
         limit_queries: int | None = None, answers: int = 300, seed: int = 13,
         batch: int = 100, rate_sample: int = 48, results: str | Path | None = None,
         json_path: str | Path | None = None, keep: bool = False,
         argv: list[str] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    # Before config is first imported: the embedded app's instance files go to the temp dir.
    os.environ.setdefault("INSTANCE_DIR", str(workdir / "instance"))
    report = Report("bench.quality", argv or ["python", "-m", "bench.quality"])
    eval_dir = Path(eval_dir or DEFAULT_EVAL_DIR)
    cache_dir = Path(cache_dir or references.DEFAULT_CACHE_DIR)
    phases = Phases()
    loaded: list[Dataset] = []
    for key in datasets:
        try:
            data = phases.run(key, "load", LOADERS[key], eval_dir)
        except Missing as exc:
            report.note(f"SKIPPED {key}: {exc}")
            continue
        loaded.append(subset(data, limit_docs=limit_docs, limit_queries=limit_queries,
                             seed=seed))
    figs: dict[str, Any] = {}
    try:
        with product.embedded_app(workdir, model) as app:
            model = app.config["EMBEDDING_MODEL"]
            print(f"product embedding model: {model}", flush=True)
            for data in loaded:
                figs[data.key] = evaluate(data, model=model, ref_models=list(ref_models),
                                          cache_dir=cache_dir, answers=answers, seed=seed,
                                          batch=batch, rate_sample=rate_sample,
                                          phases=phases)
    finally:
        if keep:
            print(f"kept the embedded instance in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    for key, f in figs.items():
        report_dataset(report, key, f)
    if figs:
        report_cost(report, figs, model)
    met = targets(figs)
    report.table("Targets (each compared within this run)",
                 ["dataset", "target", "figure", "needed", "result"],
                 [[d, t, v, need, "PASS" if ok else "MISS"] for d, t, v, need, ok in met])
    for d, t, v, need, ok in met:
        print(f"{'PASS' if ok else 'MISS'}  [{d}] {t}: {v:.3f} (needed {need})", flush=True)
    report.table("Wall time per phase", ["dataset", "phase", "seconds"],
                 [[d, p, f"{s:.1f}"] for d, p, s in phases.rows])
    for key, f in figs.items():
        for note in f["notes"]:
            report.note(f"[{key}] {note}")
        ing = f["ingest"]
        if ing["status"] != {"ready": ing["sources"]} or set(ing["file_types"]) != {"text"}:
            report.note(f"[{key}] product sources by status {ing['status']}, sniffed file "
                        f"types {ing['file_types']} (uploaded as .txt)")
    report.note("Product ranks: `retrieval.search(org, question, top_k=10)` (hit@k, MRR@10, "
                "nDCG@10) and, for SciFact, a second call with top_k=50, the maximum "
                "(Recall@50; the product cannot return 100, so Recall@100 is the "
                "references' only). Chunks are mapped to their source, first chunk wins, "
                "so a top_k=10 call may rank fewer than 10 documents.")
    report.note("BM25: bm25s Lucene variant (k1 1.5, b 0.75), lowercased tokens of 2+ word "
                "characters; plain = no stop words, no stemming, accents kept; stemmed = "
                "Snowball (PyStemmer) + bm25s's stop-word list for the language. Raw models: "
                "whole documents encoded as passages, questions with `encode_queries` (E5 "
                "query/passage prefixes), exact cosine top 100.")
    figures = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "command": report.argv, "model": model, "ref_models": list(ref_models),
               "seed": seed, "limit_docs": limit_docs, "limit_queries": limit_queries,
               "datasets": figs,
               "targets": [{"dataset": d, "target": t, "figure": v, "needed": need,
                            "met": ok} for d, t, v, need, ok in met],
               "phases": [{"dataset": d, "phase": p, "seconds": round(s, 2)}
                          for d, p, s in phases.rows],
               "wall_s": round(time.perf_counter() - started, 1)}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    write_json(figures, Path(json_path) if json_path else OUT_DIR / f"quality-{stamp}.json")
    if results:
        report.write(Path(results))
    else:
        print("\nnot appended to RESULTS.md (limited run; pass --results PATH to write one)",
              flush=True)
    print(f"total wall time {figures['wall_s']:.0f} s", flush=True)
    return figures


def cli(argv: list[str] | None = None) -> int:
    from bench.quality import __doc__ as doc

    args = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m bench.quality",
                                description=(doc or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="it,en", help="comma-separated: it, en")
    p.add_argument("--model", default=None,
                   help="the product's EMBEDDING_MODEL (default: the app's, i.e. "
                        f"$EMBEDDING_MODEL or {E5}); e.g. {MINILM}")
    p.add_argument("--ref-models", default=f"{E5},{MINILM}",
                   help="raw embedding models measured as references")
    p.add_argument("--limit-docs", type=int, default=None,
                   help="keep this many documents: those the kept queries need + distractors")
    p.add_argument("--limit-queries", type=int, default=None,
                   help="a seeded random sample of this many queries per dataset")
    p.add_argument("--answers", type=int, default=300,
                   help="Italian questions posted through the conversation service")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--batch", type=int, default=100, help="files per create_files call")
    p.add_argument("--rate-sample", type=int, default=48,
                   help="product chunks re-encoded raw by each model to time encoding")
    p.add_argument("--eval-dir", default=None, help=f"default {DEFAULT_EVAL_DIR}")
    p.add_argument("--cache-dir", default=None,
                   help=f"raw-embedding cache, default {references.DEFAULT_CACHE_DIR}")
    p.add_argument("--results", default=None,
                   help=f"markdown to append to (default: {RESULTS.name} for a full run, "
                        "nothing for a limited one)")
    p.add_argument("--json", default=None, help="figures file (default bench/out/quality-*)")
    p.add_argument("--keep", action="store_true", help="keep the embedded instance dir")
    a = p.parse_args(args)
    unknown = {d.strip() for d in a.datasets.split(",") if d.strip()} - set(LOADERS)
    if unknown:
        p.error(f"unknown dataset(s) {', '.join(sorted(unknown))}; choose from it, en")
    limited = bool(a.limit_docs or a.limit_queries)
    main(datasets=tuple(d.strip() for d in a.datasets.split(",") if d.strip()),
         model=a.model, ref_models=tuple(m for m in a.ref_models.split(",") if m),
         eval_dir=a.eval_dir, cache_dir=a.cache_dir, limit_docs=a.limit_docs,
         limit_queries=a.limit_queries, answers=a.answers, seed=a.seed, batch=a.batch,
         rate_sample=a.rate_sample, results=a.results or (None if limited else RESULTS),
         json_path=a.json, keep=a.keep, argv=["python", "-m", "bench.quality", *args])
    return 0
