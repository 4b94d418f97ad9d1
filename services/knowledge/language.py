"""Languages of text: identification, stop words, Snowball stemming, accent folding.

One analyzer serves the SQLite full-text index, the answer engine's lexical overlap and
the keyword extractor, so a word is reduced the same way wherever it is compared: a plural
in a question meets the singular in a passage ("garanzie" → "garanz" ← "garanzia").
PostgreSQL does the same with its own Snowball dictionaries (`ts_config`), configured by
the migration with `unaccent`.

Identification is py3langid (97 languages, model inside the package, offline). Short
texts are unreliable, so `detect` says `None` below a confidence and callers fall back to
what they know (the organization's declared languages).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer
from stop_words import LANGUAGE_MAPPING, get_stop_words

# ISO 639-1 → Snowball algorithm (PyStemmer) for the languages it has.
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech",
    "da": "danish", "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian",
    "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil",
    "tr": "turkish", "yi": "yiddish",
}
# ISO 639-1 → PostgreSQL text-search configuration created by the migration
# (companin_<name>: the built-in Snowball configuration with `unaccent` in front); every
# Snowball language but these has one in PostgreSQL 15.
_NOT_IN_POSTGRESQL = frozenset({"cs", "eo", "et", "fa", "pl"})
PG_CONFIGS = {code: name for code, name in SNOWBALL.items() if code not in _NOT_IN_POSTGRESQL}
UNDETERMINED = "und"
MIN_DETECT_CHARS = 12
MIN_CONFIDENCE = 0.6
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_detector_lock = threading.Lock()
_stemmers = threading.local()


def primary(tag: str | None) -> str:
    """'it-IT' → 'it'; empty → 'und'."""
    return ((tag or "").split("-")[0].split("_")[0].lower()) or UNDETERMINED


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_with_confidence(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability); ('und', 0.0) for text too short to tell."""
    sample = " ".join((text or "")[:5000].split())
    if len(sample) < MIN_DETECT_CHARS or not _WORD.search(sample):
        return UNDETERMINED, 0.0
    with _detector_lock:
        lang, prob = _identifier().classify(sample)
    return str(lang), float(prob)


def detect(text: str, *, min_confidence: float = MIN_CONFIDENCE) -> str | None:
    lang, prob = detect_with_confidence(text)
    return lang if lang != UNDETERMINED and prob >= min_confidence else None


def known_languages() -> list[str]:
    """Every language the detector can name."""
    return sorted(_identifier().nb_classes)


@lru_cache(maxsize=64)
def stop_words(lang: str | None) -> frozenset[str]:
    code = primary(lang)
    if code not in LANGUAGE_MAPPING:
        return frozenset()
    words = set()
    for word in get_stop_words(code):
        word = word.lower().strip()
        words.add(word)
        words.add(fold(word))
        words.update(_WORD.findall(word))  # "all'" → "all", "dell'" → "dell"
    return frozenset(words)


def _stemmer(lang: str | None):
    """PyStemmer objects are not thread-safe: one per thread and language."""
    algorithm = SNOWBALL.get(primary(lang))
    if algorithm is None:
        return None
    cache = getattr(_stemmers, "cache", None)
    if cache is None:
        cache = _stemmers.cache = {}
    stemmer = cache.get(algorithm)
    if stemmer is None:
        stemmer = cache[algorithm] = Stemmer.Stemmer(algorithm)
    return stemmer


def has_stemmer(lang: str | None) -> bool:
    return primary(lang) in SNOWBALL


def fold(word: str) -> str:
    """Lowercase without diacritics ('perché' → 'perche'), as PostgreSQL's unaccent does."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def analyze(text: str, lang: str | None, *, drop_stop_words: bool = False) -> list[str]:
    """Index/query terms: lowercase words, stemmed in `lang`, accents folded."""
    tokens = words(text)
    if drop_stop_words:
        stop = stop_words(lang)
        kept = [t for t in tokens if t not in stop]
        tokens = kept or tokens
    stemmer = _stemmer(lang)
    if stemmer is not None:
        tokens = stemmer.stemWords(tokens)
    return [fold(t) for t in tokens]


def content_terms(text: str, lang: str | None) -> set[str]:
    """The question's meaningful terms: stop words and one-letter words dropped, stemmed."""
    stop = stop_words(lang)
    tokens = [t for t in words(text) if t not in stop and (len(t) > 1 or not t.isascii())]
    stemmer = _stemmer(lang)
    if stemmer is not None:
        tokens = stemmer.stemWords(tokens)
    return {fold(t) for t in tokens}


def pg_config(lang: str | None) -> str:
    name = PG_CONFIGS.get(primary(lang))
    return f"companin_{name}" if name else "companin_simple"
