"""bench.bilingual end to end on a two-guide version of its data file, in the real format:
the guides are ingested, every question searched and answered, the cross-language term
fitted. No quality threshold is asserted: the figures must exist and be shares in [0, 1].
"""
from __future__ import annotations

import json

from bench import bilingual


def test_the_bilingual_benchmark_runs_end_to_end(tmp_path):  # noqa: ANN001
    data = bilingual.load()
    keep = {d["id"] for d in data["documents"][:2]}
    small = {**data, "documents": [d for d in data["documents"] if d["id"] in keep],
             "questions": [q for q in data["questions"] if q["doc"] in keep][:6],
             "off_topic": data["off_topic"][:3]}
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small, ensure_ascii=False), encoding="utf-8")

    figures = bilingual.main(["--fit", "--data", str(path)])

    assert figures["fit"] in bilingual.GRID
    for row in figures["search"]:
        assert row[0] in bilingual.LANGUAGES
        assert all(0.0 <= share <= 1.0 for share in row[1:])
    for language in bilingual.LANGUAGES:
        answers = figures["answers"][language]
        assert answers["questions"] == 6 and answers["off-topic"] == 6
        for key in ("answered", "gold quoted", "right section cited", "off-topic answered"):
            assert 0.0 <= answers[key] <= 1.0


def test_every_question_names_a_section_of_its_guide_and_quotes_it():
    """The data file's own promise: the gold string is in the section the question names."""
    data = bilingual.load()
    docs = {d["id"]: d["text"] for d in data["documents"]}
    for q in data["questions"]:
        assert q["answer"] in bilingual.section_text(docs[q["doc"]], q["section"]), q["id"]
        assert q["en"].strip() and q["it"].strip()
    assert all(o["en"].strip() and o["it"].strip() for o in data["off_topic"])
