"""The side-by-side diff pairs lines and marks the changed words."""
from __future__ import annotations

from console.diffing import diff_configs, diff_lines, field_text


def test_equal_text_is_all_equal_rows():
    rows = diff_lines("a\nb", "a\nb")
    assert [r.tag for r in rows] == ["equal", "equal"]
    assert [(r.left_no, r.right_no) for r in rows] == [(1, 1), (2, 2)]


def test_changed_line_marks_whole_changed_words():
    (row,) = diff_lines("Be friendly.", "Be formal.")
    assert row.tag == "replace"
    assert str(row.left) == "Be <del>friendly</del>." and str(row.right) == "Be <ins>formal</ins>."


def test_a_changed_word_is_never_cut_into_letters():
    """Issue 13: "cordiale" against "formale" was marked "cor|di|ale"."""
    (row,) = diff_lines("Tono cordiale e breve.", "Tono formale e breve.")
    assert str(row.left) == "Tono <del>cordiale</del> e breve."
    assert str(row.right) == "Tono <ins>formale</ins> e breve."
    (row,) = diff_lines("chat: claude-sonnet-4-5", "chat: claude-opus-4")
    assert str(row.left) == "chat: claude-<del>sonnet-4-5</del>"
    assert str(row.right) == "chat: claude-<ins>opus-4</ins>"


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
