"""bench.calibrate's grid fit on hand-made candidate rows: the fitted weights rank the
relevant unit first where the data says so, a guide's sections rank as units of their own,
and the split-half check measures each half with weights fitted on the other.

The rows are built without ingesting anything: the fit is arithmetic over features, and the
end-to-end collection runs through the same retrieval the bilingual smoke test covers.
"""
from __future__ import annotations

import numpy as np

from bench import calibrate
from services.knowledge import scoring


def _add(rows: calibrate.Rows, qid: int, unit: str, grade: float, *, cosine: float,
         lexical_norm: float, label: str | None = None) -> None:
    rows.x.append(scoring.features(cosine, 0.0, 0.0, False, lexical_norm=lexical_norm))
    rows.cross.append(0.0)
    rows.grade.append(grade)
    rows.qid.append(qid)
    rows.current.append(0.0)
    rows.source.append(unit)
    rows.answerable.add(qid)
    rows.ideal[qid] = [1.0]
    if label:
        rows.label[qid] = label


def _rows() -> tuple[calibrate.Rows, set[int], set[int]]:
    """Question 0 (SQuAD-like): the right paragraph has the best full-text score and a
    slightly lower cosine. Questions 1..4 (guide-like): the wrong section has the best
    full-text score, the right one the best cosine."""
    rows = calibrate.Rows()
    _add(rows, 0, "p-right", 1.0, cosine=0.80, lexical_norm=1.0)
    _add(rows, 0, "p-wrong", 0.0, cosine=0.81, lexical_norm=0.2)
    guide = set()
    for q in range(1, 5):
        _add(rows, q, f"s{q}-right", 1.0, cosine=0.86, lexical_norm=0.1, label=f"g{q}")
        _add(rows, q, f"s{q}-wrong", 0.0, cosine=0.83, lexical_norm=1.0, label=f"g{q}")
        guide.add(q)
    return rows, {0}, guide


def test_per_question_ranks_units_and_stops_at_the_first_relevant():
    rows, squad, _guide = _rows()
    x, grade, qid, _ = rows.arrays()
    index = calibrate.groups(qid, squad)
    by_cosine = x[:, 1]
    assert calibrate.per_question(by_cosine, rows, grade, index, "mrr") == {0: 0.5}
    assert calibrate.per_question(x[:, 6], rows, grade, index, "mrr") == {0: 1.0}
    assert calibrate.per_question(x[:, 6], rows, grade, index, "ndcg")[0] == 1.0


def test_the_joint_fit_prefers_meaning_when_the_guides_say_so():
    rows, squad, guide = _rows()
    x, grade, qid, _ = rows.arrays()
    parts = [calibrate.Part("SQuAD-it", squad, "mrr", calibrate.SQUAD_WEIGHT),
             calibrate.Part("guides", guide, "mrr", 1.0)]
    grid = calibrate.grid_values(x, np.array(rows.cross), 0.0, grade, qid, rows, parts)
    weights = dict(zip(calibrate.GRID, calibrate.fit(grid, parts), strict=True))
    assert calibrate.objective(grid[calibrate.fit(grid, parts)], parts) == 3.0
    # Both kinds first: enough full-text weight for SQuAD-it, not so much that it beats a
    # cosine lead of 0.03 on the guides.
    # (rows built without stored sentences: the closest sentence's cosine is the passage's)
    cosine = weights["cosine"] + weights["sentence_cosine"]
    lexical = weights["lexical_norm"]
    assert 0.01 * cosine < 0.8 * lexical and 0.9 * lexical < 0.03 * cosine

    rows_fit = calibrate.split_half(grid, parts, rows, squad,
                                    (40.0, 1.0, 3.0, 2.0, 0.0, 0.0))
    assert [r[1] for r in rows_fit] == ["fitted", "shipped", "fitted", "shipped"]
    for row in rows_fit:
        assert all(0.0 <= v <= 1.0 for v in row[3:])
    assert rows_fit[0][4] == 1.0 and rows_fit[1][4] == 0.5  # held-out guides: fitted wins
