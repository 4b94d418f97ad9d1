"""Decide what an upload is from its bytes, never from its name or declared type.

Names and Content-Type headers are chosen by the client and routinely lie (a PNG renamed to
`.txt`, a zip renamed to `.csv`); the parser we pick must match what the bytes really are.
"""
from __future__ import annotations

import csv
import json

from errors import UnsupportedMediaType

IMAGE_KINDS: frozenset[str] = frozenset({"png", "jpeg", "webp"})
KINDS: frozenset[str] = frozenset({"pdf", "json", "csv", "text"}) | IMAGE_KINDS

_SNIFF_BYTES = 64 * 1024
_CSV_LINES = 20
_CSV_DELIMITERS = ",;\t"

# Formats we recognise only to refuse them with a precise message.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF images"),
    (b"GIF89a", "GIF images"),
    (b"PK\x03\x04", "ZIP archives (including Office documents)"),
    (b"PK\x05\x06", "ZIP archives"),
    (b"\x1f\x8b", "gzip archives"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archives"),
    (b"Rar!", "RAR archives"),
    (b"\x7fELF", "executables"),
    (b"MZ", "executables"),
    (b"\xd0\xcf\x11\xe0", "legacy Office documents"),
)


def _unsupported(what: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"{what} are not supported. Upload a PDF, CSV, JSON, plain text/Markdown file or a "
        "PNG/JPEG/WebP image.",
        code="unsupported_file_type",
    )


def detect_kind(data: bytes) -> str:
    """Return one of `KINDS` for `data`, or raise UnsupportedMediaType.

    Binary magic is checked first so a polyglot (e.g. PNG bytes with text appended) is
    treated as the binary format its header claims; text-like kinds come last.
    """
    if not data:
        raise UnsupportedMediaType("The file is empty.", code="unsupported_file_type")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, what in _REFUSED_MAGIC:
        if data.startswith(magic):
            raise _unsupported(what.capitalize())
    # The PDF spec tolerates junk before the header; readers look in the first 1 KiB.
    if b"%PDF-" in data[:1024]:
        return "pdf"

    text = _decode_text(data)
    if text is None:
        raise _unsupported("Binary files of this type")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
        except RecursionError:
            return "json"  # well-formed enough to recognise; extract() refuses the depth
        except ValueError:
            pass
        else:
            return "json"
    if _looks_like_csv(text):
        return "csv"
    return "text"


def _decode_text(data: bytes) -> str | None:
    """UTF-8 (optionally with BOM) and free of NUL bytes, or None for binary."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _looks_like_csv(text: str) -> bool:
    """A delimiter, ≥2 columns, a consistent column count and a plausible header row.

    Stricter than csv.Sniffer alone, which happily finds a "dialect" in ordinary prose.
    """
    sample = text[:_SNIFF_BYTES]
    lines = [line for line in sample.splitlines() if line.strip()]
    if len(sample) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line in half
    lines = lines[:_CSV_LINES]
    if len(lines) < 2 or lines[0].lstrip().startswith("#"):
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=_CSV_DELIMITERS)
        rows = list(csv.reader(lines, dialect))
    except csv.Error:
        return False
    widths = {len(row) for row in rows}
    if len(widths) != 1 or widths.pop() < 2:
        return False
    header = [cell.strip() for cell in rows[0]]
    if any(not cell for cell in header) or len(set(header)) != len(header):
        return False
    return not all(_is_number(cell) for cell in header)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
