"""Side-by-side diff of two assistant versions, field by field (difflib).

Lines are paired with SequenceMatcher; inside a changed pair the differing characters are
marked too, so a one-word change in long instructions is easy to spot.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from models.assistants import CONFIG_FIELDS


@dataclass(frozen=True)
class DiffRow:
    """One row of the side-by-side table: tag is equal, replace, delete or insert."""

    tag: str
    left: Markup
    right: Markup
    left_no: int | None
    right_no: int | None


@dataclass(frozen=True)
class FieldDiff:
    field: str
    changed: bool
    rows: list[DiffRow]


def field_text(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in sorted(value.items()))
    return "" if value is None else str(value)


def _inline(a: str, b: str) -> tuple[Markup, Markup]:
    """Mark the differing characters of a changed line pair."""
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(escape(a[i1:i2]))
            right.append(escape(b[j1:j2]))
            continue
        if i2 > i1:
            left.append(Markup("<del>%s</del>") % a[i1:i2])
        if j2 > j1:
            right.append(Markup("<ins>%s</ins>") % b[j1:j2])
    return Markup("").join(left), Markup("").join(right)


def diff_lines(old: str, new: str) -> list[DiffRow]:
    a, b = old.splitlines() or [""], new.splitlines() or [""]
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                rows.append(DiffRow("equal", escape(a[i1 + k]), escape(b[j1 + k]),
                                    i1 + k + 1, j1 + k + 1))
            continue
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            li, rj = i1 + k, j1 + k
            has_l, has_r = li < i2, rj < j2
            if has_l and has_r:
                left, right = _inline(a[li], b[rj])
                rows.append(DiffRow("replace", left, right, li + 1, rj + 1))
            elif has_l:
                rows.append(DiffRow("delete", escape(a[li]), Markup(""), li + 1, None))
            else:
                rows.append(DiffRow("insert", Markup(""), escape(b[rj]), None, rj + 1))
    return rows


def diff_configs(old: dict[str, Any], new: dict[str, Any]) -> list[FieldDiff]:
    """One FieldDiff per configuration field, in the schema's order."""
    out = []
    for name in CONFIG_FIELDS:
        a, b = field_text(old.get(name)), field_text(new.get(name))
        out.append(FieldDiff(field=name, changed=a != b, rows=diff_lines(a, b)))
    return out
