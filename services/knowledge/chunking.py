"""Split text units into overlapping, size-bounded chunks for embedding.

Tokens are approximated by whitespace-separated words: it is deterministic, needs no
tokenizer download, and for English prose MiniLM's 256-wordpiece window holds roughly
200 words, so `max_tokens=200` words keeps each chunk inside the model's window.

Chunks break at paragraph, line and sentence boundaries when they can; a single sentence
longer than the budget is hard-split by words. Each chunk after the first in a unit repeats
up to `overlap_tokens` trailing words of the previous one (whole trailing sentences when
they fit) so a fact straddling a boundary is still retrievable.

A section heading (a short line of its own after a finished sentence or a blank line,
followed by a new thought) or a new paragraph (after a blank line) starts a new chunk,
without overlap, once the current chunk holds `min_section_tokens` words of its own: each
section of a guide or FAQ becomes its own passage, so its meaning is not diluted by its
neighbours' and it is quoted and cited alone. A single paragraph without headings is cut
exactly as before.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .extractors.base import TextUnit
from .sentences import ends_sentence, heading_like, starts_thought

# A sentence ends at ., ! or ? (optionally followed by closing quotes/brackets) + space.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


@dataclass(frozen=True)
class Chunk:
    text: str
    position: int
    provenance: dict[str, Any] = field(default_factory=dict)
    token_count: int = 0


@dataclass
class _Segment:
    words: list[str]
    newline_before: bool
    section: bool = False  # starts a section (heading or paragraph): a chunk may start here


HEADING_MAX_WORDS = 10
# The chunk before a heading must hold this many words of its own to end there: a title
# and a one-line section stay with what follows.
MIN_SECTION_TOKENS = 25


def count_tokens(text: str) -> int:
    """The word-count approximation used everywhere chunk sizes are compared."""
    return len(text.split())


def chunk_units(
    units: Iterable[TextUnit], *, max_tokens: int = 200, overlap_tokens: int = 30,
    min_section_tokens: int = MIN_SECTION_TOKENS,
) -> list[Chunk]:
    """Chunks for all units, positions 0..n-1 in document order."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if overlap_tokens < 0 or overlap_tokens >= max_tokens:
        raise ValueError("overlap_tokens must be >= 0 and smaller than max_tokens")
    chunks: list[Chunk] = []
    for unit in units:
        for words_groups in _chunk_segments(_segments(unit.text), max_tokens, overlap_tokens,
                                            min_section_tokens):
            text = _render(words_groups)
            if not text:
                continue
            chunks.append(
                Chunk(
                    text=text,
                    position=len(chunks),
                    provenance=dict(unit.provenance),
                    token_count=count_tokens(text),
                )
            )
    return chunks


def _segments(text: str) -> list[_Segment]:
    """Sentences, remembering whether each started a new line (kept when rendering) and
    which start a section: a heading line, or the first line of a paragraph."""
    segments: list[_Segment] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        first = True
        section = _is_heading(lines, i) or (i > 0 and not lines[i - 1].strip())
        for sentence in _SENTENCE_END.split(line):
            words = sentence.split()
            if words:
                segments.append(_Segment(words, newline_before=first and bool(segments),
                                         section=section and first))
                first = False
    return segments


def _is_heading(lines: list[str], i: int) -> bool:
    """Line i stands alone as a heading: short, unpunctuated, after a finished sentence or
    a blank line (not a wrapped line of prose), before a line that starts a new thought."""
    if not heading_like(lines[i], max_words=HEADING_MAX_WORDS):
        return False
    before = lines[i - 1].strip() if i else ""
    after = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), "")
    return (not before or ends_sentence(before)) and starts_thought(after)


def _chunk_segments(
    segments: list[_Segment], max_tokens: int, overlap_tokens: int, min_section_tokens: int
) -> list[list[_Segment]]:
    chunks: list[list[_Segment]] = []
    current: list[_Segment] = []
    size = 0
    fresh = 0  # words in `current` that are not overlap

    def emit() -> None:
        nonlocal current, size, fresh
        chunks.append(current)
        overlap = _overlap(current, overlap_tokens)
        current, size, fresh = overlap, sum(len(s.words) for s in overlap), 0

    for segment in segments:
        words = segment.words
        if segment.section and fresh >= min_section_tokens:
            chunks.append(current)  # a new section: no overlap with the last one
            current, size, fresh = [], 0, 0
        if size + len(words) <= max_tokens:
            current.append(segment)
            size += len(words)
            fresh += len(words)
            continue
        if fresh:
            emit()
            if size + len(words) <= max_tokens:
                current.append(segment)
                size += len(words)
                fresh += len(words)
                continue
        # Hard split: the sentence does not fit even after starting a new chunk.
        newline = segment.newline_before
        start = 0
        while start < len(words):
            room = max_tokens - size
            if room <= 0:
                emit()
                continue
            piece = words[start : start + room]
            current.append(_Segment(piece, newline_before=newline))
            newline = False
            size += len(piece)
            fresh += len(piece)
            start += len(piece)
            if start < len(words):
                emit()
    if fresh:
        chunks.append(current)
    return chunks


def _overlap(chunk: list[_Segment], overlap_tokens: int) -> list[_Segment]:
    """Trailing whole sentences within the budget, else the last words of the last one."""
    if overlap_tokens == 0 or not chunk:
        return []
    taken: list[_Segment] = []
    total = 0
    for segment in reversed(chunk):
        if total + len(segment.words) > overlap_tokens:
            break
        taken.insert(0, segment)
        total += len(segment.words)
    if taken:
        return taken
    tail = chunk[-1].words[-overlap_tokens:]
    return [_Segment(list(tail), newline_before=False)]


def _render(segments: list[_Segment]) -> str:
    parts: list[str] = []
    for index, segment in enumerate(segments):
        if index:
            parts.append("\n" if segment.newline_before else " ")
        parts.append(" ".join(segment.words))
    return "".join(parts).strip()
