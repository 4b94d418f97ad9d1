"""The side-by-side diff pairs lines and marks the changed characters."""
from __future__ import annotations

from console.diffing import diff_configs, diff_lines, field_text


def test_equal_text_is_all_equal_rows():
    rows = diff_lines("a\nb", "a\nb")
    assert [r.tag for r in rows] == ["equal", "equal"]
    assert [(r.left_no, r.right_no) for r in rows] == [(1, 1), (2, 2)]


def test_changed_line_marks_only_the_changed_characters():
    (row,) = diff_lines("Be friendly.", "Be formal.")
    assert row.tag == "replace"
    assert "<del>" in row.left and "<ins>" in row.right
    assert str(row.left).startswith("Be f") and str(row.right).startswith("Be f")


def test_added_and_removed_lines_stand_alone():
    rows = diff_lines("one\ntwo", "one\ntwo\nthree")
    assert rows[-1].tag == "insert" and rows[-1].left == "" and rows[-1].right_no == 3
    rows = diff_lines("one\ntwo", "two")
    assert rows[0].tag == "delete" and rows[0].right_no is None


def test_text_is_escaped():
    (row,) = diff_lines("<b>x</b>", "<b>y</b>")
    assert "<b>" not in str(row.left) and "&lt;b&gt;" in str(row.left)


def test_configs_diff_every_field_and_dicts_line_by_line():
    old = {"name": "A", "task_models": {"chat": "m1", "summarize": "s"}}
    new = {"name": "A", "task_models": {"chat": "m2", "summarize": "s"}}
    fields = {f.field: f for f in diff_configs(old, new)}
    assert set(fields) == {"name", "description", "tone", "language", "instructions",
                           "task_models"}
    assert not fields["name"].changed and fields["task_models"].changed
    assert field_text({"b": 1, "a": 2}) == "a: 2\nb: 1"
