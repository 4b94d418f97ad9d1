"""Side-by-side diff of two assistant versions, field by field (difflib).

Lines are paired with SequenceMatcher; inside a changed pair the differing words are
marked too, so a one-word change in long instructions is easy to spot. Words, not
characters: a character diff of "cordiale" against "formale" reads "cor|di|ale".
"""
from __future__ import annotations

import difflib
import re
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


_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")
_GLUE = 2  # an unchanged run this short (tokens) between two changes joins them


def _segments(a: str, b: str) -> list[tuple[bool, str, str]]:
    """(changed, old, new) runs of whole tokens; a change, a short unchanged run and
    another change read as one change ("sonnet-4-5" → "opus-4", not "sonnet|-4|-5")."""
    ta, tb = _TOKENS.findall(a), _TOKENS.findall(b)
    out: list[tuple[bool, str, str]] = []
    ops = difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes()
    for k, (op, i1, i2, j1, j2) in enumerate(ops):
        old, new = "".join(ta[i1:i2]), "".join(tb[j1:j2])
        glue = (op == "equal" and 0 < k < len(ops) - 1 and i2 - i1 <= _GLUE
                and all(len(t) <= 2 for t in ta[i1:i2]))
        if (op != "equal" or glue) and out and out[-1][0]:
            out[-1] = (True, out[-1][1] + old, out[-1][2] + new)
        else:
            out.append((op != "equal", old, new))
    return out


def _inline(a: str, b: str) -> tuple[Markup, Markup]:
    """Mark the differing words of a changed line pair."""
    left: list[str] = []
    right: list[str] = []
    for changed, old, new in _segments(a, b):
        if not changed:
            left.append(escape(old))
            right.append(escape(new))
            continue
        if old:
            left.append(Markup("<del>%s</del>") % old)
        if new:
            right.append(Markup("<ins>%s</ins>") % new)
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
