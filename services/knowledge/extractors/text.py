"""Plain text and Markdown, split at headings so each unit knows its section.

A chunk that says "Install > Linux" in its provenance can be cited precisely and ranks
better than one cut blindly from the middle of a long file.
"""
from __future__ import annotations

import re

from .base import Extracted, ExtractLimits, TextUnit, clean_text, decode_utf8, require_text

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def extract_text(data: bytes, limits: ExtractLimits) -> Extracted:
    text = clean_text(decode_utf8(data, "text file"))
    metadata: dict[str, object] = {}
    if len(text) > limits.max_text_chars:
        text = text[: limits.max_text_chars]
        metadata["truncated"] = True
    units = split_sections(text)
    metadata["sections"] = len(units)
    metadata["markdown"] = any("heading" in unit.provenance for unit in units)
    return Extracted(require_text(units, "text file"), metadata)


def split_sections(text: str) -> list[TextUnit]:
    """One unit per heading section, provenance {"heading": "A > B", "line": n} (1-based)."""
    units: list[TextUnit] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    start_line = 1
    heading_line = 0
    in_fence = False

    def flush() -> None:
        body = "\n".join(buffer).strip()
        heading_only = bool(path) and len(body.splitlines()) == 1 and start_line == heading_line
        if body and not heading_only:
            provenance: dict[str, object] = {"line": start_line}
            if path:
                provenance["heading"] = " > ".join(title for _, title in path)
            units.append(TextUnit(body, provenance))

    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, match.group(2).strip()))
            buffer = [line]
            start_line = heading_line = number
        else:
            if not buffer and not line.strip():
                start_line = number + 1
                continue
            buffer.append(line)
    flush()
    return units
