"""Turn the bytes of one upload into provenance-carrying text units.

The single entry point the ingestion job calls; the kind comes from `sniff.detect_kind`,
never from the file name. Parser errors never escape raw: callers see `Unprocessable`
or `UnsupportedMediaType` with a message a user can act on.
"""
from __future__ import annotations

from collections.abc import Callable

from errors import AppError, UnsupportedMediaType

from .extractors.base import Extracted, ExtractLimits, TextUnit, clean_text, unreadable
from .extractors.image import extract_image
from .extractors.jsondoc import extract_json
from .extractors.pdf import extract_pdf
from .extractors.tabular import extract_csv
from .extractors.text import extract_text
from .sniff import IMAGE_KINDS, detect_kind

__all__ = [
    "Extracted",
    "ExtractLimits",
    "TextUnit",
    "clean_text",
    "detect_kind",
    "extract",
    "extract_file",
]

_EXTRACTORS: dict[str, Callable[[bytes, ExtractLimits], Extracted]] = {
    "pdf": extract_pdf,
    "csv": extract_csv,
    "json": extract_json,
    "text": extract_text,
    **{kind: extract_image for kind in IMAGE_KINDS},
}


def extract(data: bytes, kind: str, limits: ExtractLimits | None = None) -> Extracted:
    """Extract text units from `data` already identified as `kind`."""
    extractor = _EXTRACTORS.get(kind)
    if extractor is None:
        raise UnsupportedMediaType(
            f"Files of type {kind!r} are not supported.", code="unsupported_file_type"
        )
    try:
        result = extractor(data, limits or ExtractLimits())
    except AppError:
        raise
    except RecursionError:
        raise unreadable("The file is nested too deeply to read.") from None
    except MemoryError:
        raise unreadable("The file is too large to read.") from None
    except Exception as exc:  # noqa: BLE001 - a parser bug or hostile input must not surface raw
        raise unreadable(
            f"The {kind.upper()} file could not be read ({type(exc).__name__})."
        ) from None
    result.metadata.setdefault("kind", kind)
    return result


def extract_file(data: bytes, limits: ExtractLimits | None = None) -> Extracted:
    """Sniff then extract: the convenience path for uploads."""
    return extract(data, detect_kind(data), limits)
