"""Shared shapes and limits for the extractors.

Every extractor returns text units that remember where they came from (page, rows, JSON
path, heading) so an answer can cite its source, and every one obeys the same caps so a
hostile upload costs bounded time and memory.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from errors import Unprocessable

_NUL = "\x00"
# C0 controls other than tab/newline/carriage return confuse tokenizers and databases.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ExtractLimits:
    """Caps applied while extracting; exceeding most of them truncates and says so."""

    max_pdf_pages: int = 500
    # Total bytes a PDF's compressed streams may inflate to (decompression-bomb cap).
    max_pdf_inflated_bytes: int = 64 * 1024 * 1024
    max_csv_rows: int = 50_000
    max_cell_chars: int = 2_000
    max_json_depth: int = 64
    max_json_nodes: int = 200_000
    max_image_pixels: int = 40_000_000
    max_text_chars: int = 5_000_000
    ocr_timeout_seconds: int = 120
    # Languages images are read in: the organization's ISO 639-1 codes (BCP 47 tags and
    # Tesseract pack names work too); packs that are not installed are skipped.
    ocr_languages: tuple[str, ...] = ("en",)
    # Called as (pages read, pages to read) while a PDF streams page by page: a long
    # extraction reports progress (and so a heartbeat) instead of going silent.
    on_page: Callable[[int, int], None] | None = field(default=None, compare=False)


@dataclass
class TextUnit:
    """A piece of text plus where it came from, e.g. {"page": 3} or {"rows": [2, 11]}."""

    text: str
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class Extracted:
    units: list[TextUnit]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """All units joined, for summaries and content hashes."""
        return "\n\n".join(unit.text for unit in self.units)


def clean_text(text: str) -> str:
    """Drop NUL and other control characters that break storage and tokenizers."""
    if _NUL in text or _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text


def unreadable(reason: str) -> Unprocessable:
    return Unprocessable(reason, code="unreadable_file")


def decode_utf8(data: bytes, what: str) -> str:
    """Strict UTF-8 (BOM tolerated): guessing an encoding silently corrupts text."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise unreadable(
            f"The {what} is not valid UTF-8 (invalid byte at position {exc.start}). "
            "Save it as UTF-8 and upload it again."
        ) from None


def require_text(units: list[TextUnit], what: str) -> list[TextUnit]:
    kept = [unit for unit in units if unit.text.strip()]
    if not kept:
        raise unreadable(f"The {what} contains no text that could be extracted.")
    return kept
