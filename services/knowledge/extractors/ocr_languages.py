"""Which Tesseract language packs read an organization's images.

Organizations declare languages as ISO 639-1 codes (or BCP 47 tags); Tesseract names its
packs differently ("ita", "deu", "chi_tra") and only has the ones installed. Reading an
Italian scan with the English pack loses the accents ("perché" → "perche"), and asking
for a pack that is not installed makes Tesseract fail, so the choice is made here: the
declared languages that have a pack, joined with "+", else English.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

from ..language import primary

log = logging.getLogger(__name__)

DEFAULT_OCR_LANGUAGE = "eng"
# Installed data files that are not languages (orientation detection, equations).
_NOT_LANGUAGES = frozenset({"osd", "equ"})

# ISO 639-1 (and the few ISO 639-3 codes our detector returns) → Tesseract pack.
TESSERACT_CODES = {
    "af": "afr", "am": "amh", "ar": "ara", "as": "asm", "az": "aze", "be": "bel",
    "bg": "bul", "bn": "ben", "bo": "bod", "br": "bre", "bs": "bos", "ca": "cat",
    "co": "cos", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "dv": "div",
    "dz": "dzo", "el": "ell", "en": "eng", "eo": "epo", "es": "spa", "et": "est",
    "eu": "eus", "fa": "fas", "fi": "fin", "fo": "fao", "fr": "fra", "fy": "fry",
    "ga": "gle", "gd": "gla", "gl": "glg", "gu": "guj", "he": "heb", "hi": "hin",
    "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye", "id": "ind", "is": "isl",
    "it": "ita", "iu": "iku", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz",
    "km": "khm", "kn": "kan", "ko": "kor", "ku": "kmr", "ky": "kir", "la": "lat",
    "lb": "ltz", "lo": "lao", "lt": "lit", "lv": "lav", "mi": "mri", "mk": "mkd",
    "ml": "mal", "mn": "mon", "mr": "mar", "ms": "msa", "mt": "mlt", "my": "mya",
    "nb": "nor", "ne": "nep", "nl": "nld", "nn": "nor", "no": "nor", "oc": "oci",
    "or": "ori", "pa": "pan", "pl": "pol", "ps": "pus", "pt": "por", "qu": "que",
    "ro": "ron", "ru": "rus", "sa": "san", "sd": "snd", "si": "sin", "sk": "slk",
    "sl": "slv", "sq": "sqi", "sr": "srp", "su": "sun", "sv": "swe", "sw": "swa",
    "ta": "tam", "te": "tel", "tg": "tgk", "th": "tha", "ti": "tir", "tl": "fil",
    "to": "ton", "tr": "tur", "tt": "tat", "ug": "uig", "uk": "ukr", "ur": "urd",
    "uz": "uzb", "vi": "vie", "yi": "yid", "yo": "yor", "zh": "chi_sim",
    # Languages without a pack of their own, read with their closest written standard.
    "ary": "ara", "arz": "ara", "ceb": "ceb", "chr": "chr", "ext": "spa", "fil": "fil",
    "grc": "grc", "hbo": "heb", "lij": "ita", "ltg": "lav", "syr": "syr", "vec": "ita",
    "wuu": "chi_sim", "yue": "chi_tra",
}
# Script or region subtags that choose another pack: 'zh-Hant', 'zh-TW', 'sr-Latn', ...
_VARIANTS = {
    ("zh", "hant"): "chi_tra", ("zh", "tw"): "chi_tra", ("zh", "hk"): "chi_tra",
    ("zh", "mo"): "chi_tra", ("sr", "latn"): "srp_latn", ("uz", "cyrl"): "uzb_cyrl",
    ("az", "cyrl"): "aze_cyrl",
}


@lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    """Packs Tesseract can use here (asked once per process); empty without Tesseract."""
    try:
        import pytesseract

        return frozenset(pytesseract.get_languages(config=""))
    except Exception as exc:  # noqa: BLE001 - no binary, broken install: OCR then says so
        log.warning("Tesseract languages unavailable: %s", exc)
        return frozenset()


def tesseract_code(language: str) -> str | None:
    """The pack name for an ISO 639-1 code or BCP 47 tag ('it-IT' → 'ita'); None unknown."""
    tag = (language or "").strip().replace("_", "-").lower()
    if not tag:
        return None
    parts = tag.split("-")
    for subtag in parts[1:]:
        variant = _VARIANTS.get((parts[0], subtag))
        if variant:
            return variant
    return TESSERACT_CODES.get(primary(tag))


def tesseract_languages(
    languages: Iterable[str], installed: frozenset[str] | None = None
) -> str | None:
    """The `lang` argument for Tesseract: installed packs for `languages`, "+"-joined.

    Accepts ISO 639-1 codes, BCP 47 tags and Tesseract names ("ita", "chi_sim"). Unknown
    or uninstalled languages are skipped with a log line; when none is left it is English
    if installed, else None (Tesseract's own default). Never raises.
    """
    available = installed_languages() if installed is None else installed
    chosen: list[str] = []
    for language in languages or ():
        raw = (language or "").strip()
        code = raw if raw in available and raw not in _NOT_LANGUAGES else tesseract_code(raw)
        if code is None:
            log.info("OCR language %r is not one Tesseract knows; skipped", raw)
        elif code not in available:
            log.info("OCR language %r needs the Tesseract pack %r, not installed; skipped",
                     raw, code)
        elif code not in chosen:
            chosen.append(code)
    if chosen:
        return "+".join(chosen)
    return DEFAULT_OCR_LANGUAGE if DEFAULT_OCR_LANGUAGE in available else None
