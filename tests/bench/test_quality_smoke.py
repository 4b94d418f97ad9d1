"""bench.quality end to end on a tiny synthetic Italian SQuAD file and a tiny BEIR-format
English set, written in the real formats so the loaders, the references, the product's
ingest/search/conversation path and the report all run. No quality threshold is asserted:
the figures must exist and be shares in [0, 1].
"""
from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

CITIES = [
    ("Lucerna", "Umbria", "la Torre dei Venti", 1312, 41200),
    ("Castelbruno", "Marche", "il Ponte delle Grazie", 1457, 18300),
    ("Valdorsa", "Piemonte", "la Rocca Bianca", 1189, 7600),
    ("Pietrafonda", "Calabria", "il Duomo di San Lino", 1602, 12900),
    ("Acquaviva Sarda", "Sardegna", "il Faro del Capo", 1871, 5400),
    ("Monteverro", "Toscana", "il Palazzo dei Priori", 1390, 23800),
    ("Rivalta Scura", "Lombardia", "la Villa Orsini", 1745, 9100),
    ("Borgo Cenere", "Sicilia", "il Teatro Lirico", 1898, 31500),
    ("Lagonero", "Veneto", "la Chiesa di Santa Rita", 1520, 6700),
    ("Sassofermo", "Abruzzo", "il Castello Ducale", 1268, 4300),
    ("Fontanile", "Puglia", "la Fontana Maggiore", 1633, 15800),
    ("Serralunga Alta", "Liguria", "il Convento dei Cappuccini", 1580, 2900),
]
STUDIES = [
    ("metformin", "AMPK", "hepatocytes"), ("rapamycin", "mTOR", "T cells"),
    ("aspirin", "COX-2", "platelets"), ("statins", "HMG-CoA reductase", "liver cells"),
    ("lithium", "GSK-3", "neurons"), ("imatinib", "BCR-ABL", "leukemia cells"),
    ("tamoxifen", "estrogen receptor", "breast tissue"), ("vitamin D", "VDR", "osteoblasts"),
    ("caffeine", "adenosine receptors", "cardiomyocytes"), ("insulin", "GLUT4", "adipocytes"),
]


def write_eval(folder) -> None:  # noqa: ANN001
    paragraphs = []
    for n, (city, region, monument, year, people) in enumerate(CITIES):
        context = (f"{city} è un comune della regione {region}. Il suo monumento più noto è "
                   f"{monument}, costruito nel {year} dai maestri locali. Oggi {city} conta "
                   f"circa {people} abitanti e vive di turismo e artigianato.")
        paragraphs.append({"context": context, "qas": [{
            "id": f"q{n}", "question": f"In che anno è stato costruito {monument}?",
            "answers": [{"text": str(year), "answer_start": context.index(str(year))}]}]})
    squad = {"version": "1.1", "data": [{"title": "Comuni", "paragraphs": paragraphs}]}
    with gzip.open(folder / "squad-it-dev.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(squad, fh, ensure_ascii=False)
    sci = folder / "scifact-dev"
    sci.mkdir()
    with gzip.open(sci / "corpus.jsonl.gz", "wt", encoding="utf-8") as fh:
        for n, (drug, target, cells) in enumerate(STUDIES):
            fh.write(json.dumps({
                "_id": str(1000 + n), "title": f"Effects of {drug} on {target} in {cells}",
                "text": f"We treated cultured {cells} with {drug}. {drug.capitalize()} "
                        f"reduced {target} activity by half within six hours, and the effect "
                        "was reversed after washout."}) + "\n")
    with (sci / "queries-train.jsonl").open("w") as fh:
        for n, (drug, target, _cells) in enumerate(STUDIES[:6]):
            fh.write(json.dumps({"_id": str(n), "text": f"{drug} lowers {target} activity.",
                                 "metadata": {}}) + "\n")
    with (sci / "qrels-train.tsv").open("w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{n}\t{1000 + n}\t1\n" for n in range(6))


def share(value) -> bool:  # noqa: ANN001
    return isinstance(value, float | int) and 0.0 <= value <= 1.0


def test_quality_reports_product_beside_bm25_and_raw_models(tmp_path):
    from bench import quality

    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    write_eval(eval_dir)
    results, out = tmp_path / "RESULTS.md", tmp_path / "quality.json"
    figures = quality.main(eval_dir=eval_dir, cache_dir=tmp_path / "cache", answers=6,
                           batch=5, rate_sample=6, results=results, json_path=out)

    it, en = figures["datasets"]["it"], figures["datasets"]["en"]
    assert (it["documents"], it["queries"], en["documents"], en["queries"]) == (12, 12, 10, 6)
    product = it["product_system"]
    assert set(it["systems"]) == {product, "BM25 plain", "BM25 stemmed",
                                  "raw multilingual-e5-small", "raw all-MiniLM-L6-v2"}
    for system in it["systems"].values():
        assert all(share(system[m]) for m in ("hit@1", "hit@5", "mrr@10", "ndcg@10"))
    for name, system in en["systems"].items():
        assert share(system["ndcg@10"]) and share(system["recall@50"])
        assert name == en["product_system"] or share(system["recall@100"])
    answers = it["answers"]
    assert answers["questions"] == 6 and answers["engine"] == ["local-extractive"]
    assert all(share(answers[k]) for k in ("gold", "cites", "gold_and_cites", "retrieved"))
    assert answers["median_chars"] > 0
    for f in (it, en):
        assert f["ingest"]["status"] == {"ready": f["documents"]}
        assert f["ingest"]["chunks"] >= f["documents"] and f["ingest"]["s_per_chunk"] > 0
        assert all(r["per_s"] > 0 for r in f["encode_rate"].values())
    assert [t["dataset"] for t in figures["targets"]] == ["it"] * 5 + ["en"]
    assert all(isinstance(t["met"], bool) for t in figures["targets"])

    saved = json.loads(out.read_text())
    assert saved["datasets"]["en"]["systems"].keys() == en["systems"].keys()
    text = results.read_text()
    assert "## bench.quality" in text and "Targets" in text and "PASS" in text + "MISS"


def test_a_missing_dataset_is_skipped_with_a_message(tmp_path, capsys):
    from bench import quality

    figures = quality.main(datasets=("it", "en"), eval_dir=tmp_path, answers=0,
                           json_path=tmp_path / "q.json")
    assert figures["datasets"] == {} and figures["targets"] == []
    assert "SKIPPED it" in capsys.readouterr().out


def test_metrics_match_hand_computed_values():
    from bench.quality.data import Query
    from bench.quality.metrics import contains_gold, fold, ndcg_at, recall_at, rr_at

    q = Query("q", "?", {"a": 2, "b": 1})
    assert rr_at(["x", "b", "a"], q, 10) == 0.5
    # DCG = 1/log2(3) + 2/log2(4); ideal = 2 + 1/log2(3)
    expected = (1 / math.log2(3) + 1.0) / (2 + 1 / math.log2(3))
    assert ndcg_at(["x", "b", "a"], q, 10) == pytest.approx(expected)
    assert recall_at(["a", "x"], q, 100) == 0.5
    assert fold("  Perché\nÈ  così ") == "perche e cosi"
    assert contains_gold("Fu costruita nel XII   SECOLO [1]", ["xii secolo"])


def test_raw_embeddings_are_cached_by_text(tmp_path):
    from bench.quality.references import EmbeddingCache, cached_encode

    class Counting:
        name, calls = "fake", 0

        def encode(self, texts):  # noqa: ANN001, ANN202
            Counting.calls += len(texts)
            return np.ones((len(texts), 4), dtype=np.float32)

    first, cost = cached_encode(Counting(), ["a", "b", "a"], EmbeddingCache(tmp_path, "x"),
                                queries=False, label="fake")
    assert first.shape == (3, 4) and cost["encoded"] == 2 and Counting.calls == 2
    again, cost = cached_encode(Counting(), ["b", "c"], EmbeddingCache(tmp_path, "x"),
                                queries=False, label="fake")
    assert again.shape == (2, 4) and cost == {**cost, "encoded": 1, "cached": 1}
    assert Counting.calls == 3
