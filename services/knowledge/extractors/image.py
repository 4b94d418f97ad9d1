"""Images read with OCR (Tesseract); dimensions are checked before any pixel is decoded.

A tiny PNG can declare 20,000×20,000 pixels and expand to gigabytes, so the header is
checked against our cap (and Pillow's decompression-bomb guard) before `load()`.
Tesseract reads with the packs for `limits.ocr_languages` (see `ocr_languages`); the
packs used are recorded in the metadata as "ocr_languages".
"""
from __future__ import annotations

import io
import warnings
from typing import Any

from .base import Extracted, ExtractLimits, TextUnit, clean_text, unreadable
from .ocr_languages import tesseract_languages


def extract_image(data: bytes, limits: ExtractLimits) -> Extracted:
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(limits) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise unreadable("The image is damaged or in an unsupported format.") from None
        with image:
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise _too_large(limits, width, height)
            metadata: dict[str, Any] = {
                "width": width,
                "height": height,
                "format": image.format,
                "mode": image.mode,
            }
            try:
                image.load()
                prepared = _prepare(image)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise _too_large(limits, width, height) from None
            except (OSError, ValueError, SyntaxError, EOFError):
                raise unreadable("The image is damaged and cannot be decoded.") from None
    lang = tesseract_languages(limits.ocr_languages)
    text = clean_text(_ocr(prepared, limits, lang)).strip()
    if not any(ch.isalnum() for ch in text):
        raise unreadable("No text could be recognised in the image.")
    metadata["ocr_chars"] = len(text)
    metadata["ocr_languages"] = lang or "default"
    return Extracted([TextUnit(text, {"ocr": True})], metadata)


def _prepare(image: Any) -> Any:
    """Flatten transparency onto white and drop EXIF: Tesseract wants plain RGB/L pixels."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode not in ("RGB", "L"):
        return image.convert("RGB")
    return image.copy()


def _ocr(image: Any, limits: ExtractLimits, lang: str | None) -> str:
    import pytesseract

    try:
        return pytesseract.image_to_string(
            image, lang=lang, timeout=limits.ocr_timeout_seconds
        )
    except RuntimeError:  # pytesseract signals its timeout this way
        raise unreadable("Reading text from the image took too long.") from None
    except pytesseract.TesseractNotFoundError:
        raise unreadable("Text recognition (OCR) is not available on this server.") from None
    except pytesseract.TesseractError as exc:
        raise unreadable(f"Text recognition failed: {exc.message}") from None


def _too_large(limits: ExtractLimits, width: int | None = None, height: int | None = None):
    size = f" ({width}×{height} pixels)" if width and height else ""
    return unreadable(
        f"The image is too large{size}; at most {limits.max_image_pixels:,} pixels are "
        "supported."
    )
