"""PDF text, page by page, with the page number kept for citations.

Pages are closed as soon as they are read so a 500-page document does not keep every
page's layout objects alive at once.
"""
from __future__ import annotations

import io
from typing import Any

from .base import Extracted, ExtractLimits, TextUnit, clean_text, require_text, unreadable


def extract_pdf(data: bytes, limits: ExtractLimits) -> Extracted:
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise unreadable("The PDF is encrypted and cannot be read.") from None
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many unrelated types on broken files
        if _is_encryption_error(exc):
            raise unreadable("The PDF is encrypted and cannot be read.") from None
        raise unreadable("The PDF is damaged or not a valid PDF and cannot be read.") from None

    units: list[TextUnit] = []
    metadata: dict[str, Any] = {}
    try:
        try:
            page_count = len(pdf.pages)
        except Exception as exc:  # noqa: BLE001 - same zoo as open()
            if _is_encryption_error(exc):
                raise unreadable("The PDF is encrypted and cannot be read.") from None
            raise unreadable("The PDF is damaged and its pages cannot be read.") from None
        metadata["page_count"] = page_count
        info = pdf.metadata or {}
        for key in ("Title", "Author"):
            value = _meta_str(info.get(key))
            if value:
                metadata[key.lower()] = value
        if page_count > limits.max_pdf_pages:
            metadata["truncated"] = True
            metadata["pages_read"] = limits.max_pdf_pages
        for number, page in enumerate(pdf.pages[: limits.max_pdf_pages], start=1):
            try:
                text = page.extract_text() or ""
            except Exception:  # noqa: BLE001 - one bad page must read as a clear error
                raise unreadable(
                    f"Page {number} of the PDF is damaged and cannot be read."
                ) from None
            finally:
                page.close()
            text = clean_text(text).strip()
            if text:
                units.append(TextUnit(text, {"page": number}))
    finally:
        try:
            pdf.close()
        except Exception:  # noqa: BLE001 - closing a broken document must not mask the real error
            pass
    if not units:
        raise unreadable(
            "The PDF contains no extractable text (it may be a scanned image). "
            "Upload the pages as images to read them with OCR."
        )
    return Extracted(require_text(units, "PDF"), metadata)


def _is_encryption_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if "Password" in name or "Encrypt" in name:
            return True
        current = current.__cause__ or current.__context__
    return False


def _meta_str(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = clean_text(value).strip()
    return value[:500] or None
