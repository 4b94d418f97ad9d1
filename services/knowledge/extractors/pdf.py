"""PDF text, page by page, with the page number kept for citations.

Pages are closed as soon as they are read so a 500-page document does not keep every
page's layout objects alive at once.

Decompression bombs: pdfminer inflates FlateDecode streams with an unbounded
`zlib.decompress` (and a quadratic fallback for corrupted ones), so a 300 KB upload can
expand to gigabytes. `_install_inflate_guard` routes pdfminer's zlib use through a
budget per document (`ExtractLimits.max_pdf_inflated_bytes`): every layer of every stream,
also object streams and streams of encrypted files, is counted as it inflates, and the
document is refused as soon as the budget runs out — nothing over it is ever allocated.
"""
from __future__ import annotations

import contextlib
import io
import threading
import zlib
from collections.abc import Iterator
from typing import Any

from .base import Extracted, ExtractLimits, TextUnit, clean_text, require_text, unreadable

_budget = threading.local()  # per thread: the document being extracted on this thread


class InflateBudgetExceeded(Exception):
    """A PDF's streams inflate to more than the configured budget."""


def _charge(n: int) -> None:
    remaining = getattr(_budget, "remaining", None)
    if remaining is None:
        return
    if n > remaining:
        _budget.exceeded = True
        raise InflateBudgetExceeded
    _budget.remaining = remaining - n


_CHUNK = 1024 * 1024


def _inflate(d: Any, data: bytes) -> bytes:
    """Inflate in 1 MiB pieces, charging each before the next is made."""
    parts, buf = [], data
    while True:
        piece = d.decompress(buf, _CHUNK)
        if piece:
            _charge(len(piece))
            parts.append(piece)
        buf = d.unconsumed_tail
        if d.eof or (not buf and not piece):
            return b"".join(parts)


class _BoundedDecompressor:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if max_length:
            out = self._inner.decompress(data, max_length)
            _charge(len(out))
            return out
        return _inflate(self._inner, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _BoundedZlib:
    """Stands in for the `zlib` module inside pdfminer.pdftypes."""

    error = zlib.error

    def decompress(self, data: bytes, *args: Any, **kwargs: Any) -> bytes:
        d = zlib.decompressobj()
        out = _inflate(d, data)
        if not d.eof:  # same contract as zlib.decompress: pdfminer then tries its fallback
            raise zlib.error("Error -5 while decompressing data: incomplete or truncated stream")
        return out

    def decompressobj(self, *args: Any, **kwargs: Any) -> _BoundedDecompressor:
        return _BoundedDecompressor(zlib.decompressobj(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)


def _decompress_corrupted(data: bytes) -> bytes:
    """pdfminer's CRC-tolerant fallback, linear instead of quadratic and budgeted."""
    d = _BoundedDecompressor(zlib.decompressobj())
    out = bytearray()
    i = 0
    try:
        for i in range(len(data)):
            out += d.decompress(data[i:i + 1])
    except zlib.error:
        if i < len(data) - 3:  # not in the checksum: a real error, as upstream
            raise
    return bytes(out)


def _install_inflate_guard() -> None:
    import pdfminer.pdftypes as pdftypes

    if not isinstance(pdftypes.zlib, _BoundedZlib):
        pdftypes.zlib = _BoundedZlib()  # type: ignore[assignment]
        pdftypes.decompress_corrupted = _decompress_corrupted


@contextlib.contextmanager
def _inflate_budget(limit: int) -> Iterator[None]:
    _budget.remaining, _budget.exceeded = limit, False
    try:
        yield
    finally:
        _budget.remaining = None


def extract_pdf(data: bytes, limits: ExtractLimits) -> Extracted:
    _install_inflate_guard()
    with _inflate_budget(limits.max_pdf_inflated_bytes):
        try:
            result = _extract_pdf(data, limits)
        except Exception as exc:
            if getattr(_budget, "exceeded", False):  # whatever pdfminer wrapped it in
                raise _bomb(limits) from None
            if _caused_by(exc, MemoryError):  # not "damaged": the worker ran out of memory
                raise unreadable("The file is too large to read.") from None
            raise
        if getattr(_budget, "exceeded", False):  # swallowed somewhere inside pdfminer
            raise _bomb(limits)
        return result


def _bomb(limits: ExtractLimits) -> Exception:
    mib = limits.max_pdf_inflated_bytes // (1024 * 1024)
    return unreadable(f"The PDF expands to more than {mib} MiB when decompressed and was "
                      "refused (it looks like a decompression bomb).")


def _extract_pdf(data: bytes, limits: ExtractLimits) -> Extracted:
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
            if limits.on_page is not None and number % 10 == 0:
                limits.on_page(number, min(page_count, limits.max_pdf_pages))
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


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


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
