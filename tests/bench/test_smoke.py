"""Every benchmark runs end to end at a tiny size and reports well-formed figures.

Never a timing assertion: the figures must be present, positive and their ratios computed.
Each writes to a temporary RESULTS.md, never to bench/RESULTS.md.
"""
from __future__ import annotations

import math

import pytest


def positive(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture
def results(tmp_path):
    return str(tmp_path / "RESULTS.md")


def written(path: str, title: str) -> str:
    with open(path) as fh:
        text = fh.read()
    assert f"## {title}" in text and "nproc=" in text and "- command: `" in text
    return text


def test_retrieval_reports_latency_recall_and_the_exact_reference(results):
    from bench import retrieval

    figures = retrieval.main(sizes=[3000], queries=10, real_n=400, db_chunks=200,
                             ann_threshold=1000, probe_sweep=[4], results=results)
    size = figures["sizes"][3000]
    assert size["kind"] == "IVF"  # over the threshold, the store switched index type
    for part in (size["ours"], size["raw"]):
        assert positive(part["p50_ms"]) and positive(part["p95_ms"])
    assert 0 < size["recall"] <= 1 and positive(size["build_s"])
    assert [f[0] for f in size["filtered"]] == ["10% of vectors", "one source, 2,000 vectors"]
    assert all(0 < f[4] <= 1 for f in size["filtered"])
    assert size["probe_sweep"] and size["probe_sweep"][0][0] == 4
    realism = figures["real"]["realism"]
    assert positive(realism["real_lid"]) and positive(realism["syn_lid"])
    assert all(positive(v["p50_ms"]) for k, v in figures["db"].items() if k != "chunks")
    written(results, "bench.retrieval")


def test_ingest_reports_chunks_per_second_against_raw_encode(results):
    from bench import ingest

    figures = ingest.main(paragraphs=30, docs=2, pdfs=2, pdf_pages=(2, 2), results=results,
                          sources=20)
    assert figures["bulk"]["sources"] == 20 and figures["bulk"]["ratio"] > 0
    for kind in ("text", "pdf"):
        fig = figures[kind]
        assert fig["chunks"] > 0
        assert positive(fig["chunks_per_s"]) and positive(fig["raw_chunks_per_s"])
        assert positive(fig["ratio"])
        assert positive(fig["stages"]["embed"])
    assert figures["pdf"]["pages"] == 4 and positive(figures["pdf"]["pages_per_s"])
    written(results, "bench.ingest")


@pytest.mark.services
def test_analytics_times_each_read_against_a_full_scan(results):
    from bench import analytics

    figures = analytics.main(rows=20_000, repeats=2, batch=10_000, results=results)
    assert figures["count"] >= 20_000 and positive(figures["scan"]["p50_ms"])
    reads = [k for k in figures if k.startswith("/analytics/")]
    assert len(reads) == 5
    for k in reads:
        assert positive(figures[k]["p50_ms"]) and positive(figures[k]["vs_scan"])
    written(results, "bench.analytics")


@pytest.mark.services
def test_api_compares_the_keyed_endpoint_with_a_bare_flask_app(results):
    from bench import api

    figures = api.main(workers=1, seconds=1, rounds=1, assistants=2, limiter_calls=50,
                       results=results)
    assert positive(figures["keyed"]["rps"]) and positive(figures["bare"]["rps"])
    assert positive(figures["reference"]["rps"]) and positive(figures["ratio"])
    assert figures["logged_rows"] > 0
    assert all(positive(v) for v in figures["limiter_loop_us"].values())
    keyed_cpu = figures["cpu_ms_per_request"][figures["keyed_label"]]
    assert positive(keyed_cpu["gunicorn workers"]) and positive(keyed_cpu["whole machine"])
    written(results, "bench.api")


@pytest.mark.services
def test_limiter_accepts_exactly_the_limit_and_audits_every_refusal(results):
    from bench import limiter

    figures = limiter.main(workers=2, limit=5, calls=15, threads=5, results=results)
    # Correctness, not timing: the limit is exact across workers and every 429 is audited.
    assert figures["status"] == {200: 5, 429: 10}
    assert figures["events"] == 10 and figures["exact"]
    assert positive(figures["accepted"]["p50_ms"]) and positive(figures["reference"]["p50_ms"])
    written(results, "bench.limiter")
