"""Summaries and keywords for a knowledge source, in the source's own language.

With an Anthropic key we ask the configured model; without one (or when its answer is
unusable) a local engine does the job: an extractive summary by sentence centrality and
YAKE keywords. Enrichment must never fail an ingestion, so every path ends in a result.

Text built from overlapping chunks says every overlap twice; it is de-duplicated first
(`sentences.dedupe_sentences`) so a summary never repeats itself. Keywords are chosen with
the document's stop words and Snowball stems: YAKE alone, fixed to English, offered
Italian filler ("questa guida", "gli ordini", "entro") as keywords.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from errors import ServiceUnavailable

from .language import analyze, detect, detect_with_confidence, fold, primary, stop_words
from .sentences import dedupe_sentences, distinct_sentences, split_sentences

__all__ = [
    "Enrichment",
    "dedupe_sentences",
    "enrich",
    "keywords_local",
    "parse_enrichment_json",
    "split_sentences",
    "summarize_local",
]

LOCAL_ENGINE = "local"
LOCAL_MODEL = "tfidf-centroid+yake"
SUMMARY_CHARS = 600
KEYWORD_SOURCE_CHARS = 200_000
_LLM_INPUT_CHARS = 24_000
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_APOSTROPHE = re.compile(r"['’]")
_END = re.compile(r"[.!?…:;][\"')\]»”’]*$")
# A word inside a keyword phrase may be a short connector ("carta di credito", "Monday to
# Friday"); a longer stop word there is a verb or adverb ("possono essere restituiti").
_MAX_CONNECTOR_CHARS = 5
_MAX_KEYWORD_CHARS = 60
# Below this many words every candidate is rare; demoting one-off words needs a document.
_MIN_WORDS_FOR_SUPPORT = 80
_ONE_OFF_PENALTY = 2.5
# YAKE names a few of its stop-word lists differently from ISO 639-1.
_YAKE_LISTS = {"cs": "cz", "nb": "no", "nn": "no"}

_SYSTEM = (
    "You summarise documents for a customer-support knowledge base. Reply with one JSON "
    'object only, no prose: {"summary": "<2-3 sentences, at most 600 characters>", '
    '"keywords": ["<5-10 short lowercase keywords>"]}. Write the summary and the keywords '
    "in the language the document is written in, never translated: an Italian document "
    "gets an Italian summary and Italian keywords. Keywords are the topics a customer "
    "would search for (nouns or short noun phrases), without articles, pronouns or "
    "filler words. Do not repeat a sentence."
)


@dataclass(frozen=True)
class Enrichment:
    summary: str
    keywords: list[str]
    engine: str
    model: str
    fallback_reason: str | None = field(default=None)
    language: str | None = field(default=None)  # ISO 639-1 the enrichment was made in


def enrich(
    text: str,
    *,
    anthropic_api_key: str | None,
    model: str,
    base_url: str | None = None,
    language: str | None = None,
) -> Enrichment:
    """LLM enrichment when a key is configured, the local engine otherwise or on failure.

    `language` is the source's language (ISO 639-1 or a BCP 47 tag); detected when absent.
    """
    text = dedupe_sentences(text)
    lang = _language_of(text, language)
    if not anthropic_api_key:
        return _local(text, lang)
    from services import llm

    try:
        result = llm.complete(
            api_key=anthropic_api_key,
            model=model,
            system=_SYSTEM,
            messages=[{"role": "user", "content": _document_prompt(text, lang)}],
            max_tokens=600,
            base_url=base_url,
        )
    except ServiceUnavailable as exc:
        return _local(text, lang, f"llm unavailable: {exc.message}")
    parsed = parse_enrichment_json(result.text)
    if parsed is None:
        return _local(text, lang, "llm returned malformed output")
    summary, keywords = parsed
    summary = " ".join(distinct_sentences(split_sentences(summary))) or summary
    keywords = _clean_keywords(((k, 0.0) for k in keywords), lang, {}) or keywords
    return Enrichment(summary, keywords, engine="anthropic", model=result.model or model,
                      language=lang)


def _document_prompt(text: str, lang: str | None) -> str:
    said = f"Language of the document (ISO 639-1): {lang}\n" if lang else ""
    return f"{said}<document>\n{text[:_LLM_INPUT_CHARS]}\n</document>"


def _local(text: str, lang: str | None, reason: str | None = None) -> Enrichment:
    return Enrichment(
        summarize_local(text, language=lang),
        keywords_local(text, language=lang),
        LOCAL_ENGINE,
        LOCAL_MODEL,
        reason,
        lang,
    )


def _language_of(text: str, language: str | None) -> str | None:
    """The declared language, else the detected one, else the detector's best guess."""
    if language and primary(language) != "und":
        return primary(language)
    found = detect(text)
    if found:
        return found
    guess, _probability = detect_with_confidence(text)
    return None if guess == "und" else guess


def parse_enrichment_json(raw: str) -> tuple[str, list[str]] | None:
    """Find the JSON object in a model reply (tolerating fences or chatter around it)."""
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(raw[start : end + 1])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    summary = data.get("summary")
    keywords = data.get("keywords")
    if not isinstance(summary, str) or not summary.strip():
        return None
    if isinstance(keywords, str):
        keywords = [k for k in keywords.split(",")]
    if not isinstance(keywords, list):
        return None
    return _cap(summary.strip()), _dedupe(k for k in keywords if isinstance(k, str))[:10]


def summarize_local(
    text: str,
    *,
    sentences: int = 3,
    max_chars: int = SUMMARY_CHARS,
    language: str | None = None,
) -> str:
    """The `sentences` most central distinct sentences (TF-IDF cosine to the centroid).

    Centrality favours sentences that share vocabulary with the whole document, a robust
    stand-in for "what this document is about"; comparing Snowball stems without stop
    words makes "ordine" and "ordini" one term and keeps "il", "the" out of the vote.
    Repeated sentences, near-identical ones and chunk-overlap fragments are removed first,
    so no sentence can be chosen twice.
    """
    candidates = distinct_sentences(split_sentences(text))
    if len(candidates) <= sentences:
        return _cap(_join_sentences(candidates), max_chars)
    lang = _language_of(text, language)
    tokenized = [analyze(s, lang, drop_stop_words=True) for s in candidates]
    doc_freq: Counter[str] = Counter()
    for words in tokenized:
        doc_freq.update(set(words))
    n = len(tokenized)
    idf = {w: math.log((1 + n) / (1 + df)) + 1 for w, df in doc_freq.items()}
    vectors: list[dict[str, float]] = []
    for words in tokenized:
        counts = Counter(words)
        vec = {w: c * idf[w] for w, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({w: v / norm for w, v in vec.items()})
    centroid: Counter[str] = Counter()
    for vec in vectors:
        centroid.update(vec)
    scores = []
    for index, vec in enumerate(vectors):
        score = sum(v * centroid[w] for w, v in vec.items())
        if len(candidates[index].split()) < 4 or not _END.search(candidates[index]):
            score *= 0.5  # fragments (headings, labels) make poor summary sentences
        scores.append((score, -index))
    best = sorted(range(n), key=lambda i: scores[i], reverse=True)[:sentences]
    return _cap(_join_sentences([candidates[i] for i in sorted(best)]), max_chars)


def _join_sentences(sentences: list[str]) -> str:
    seen: set[str] = set()
    picked = []
    for sentence in sentences:
        flat = " ".join(sentence.split())
        if flat.lower() not in seen:  # never the same sentence twice, whatever came in
            seen.add(flat.lower())
            picked.append(flat)
    return " ".join(picked)


def keywords_local(text: str, top: int = 10, language: str | None = None) -> list[str]:
    """Keywords in the document's language: YAKE candidates, cleaned and stem-unique.

    No keyword is a stop word, starts or ends with one, is only a number or a one/two
    letter fragment; "ordine" and "ordini" (one Snowball stem) count once. Words that
    occur once in a long document give way to recurring ones. Word frequency stands in
    when YAKE finds nothing.
    """
    text = dedupe_sentences(text[:KEYWORD_SOURCE_CHARS])
    if not text.strip():
        return []
    lang = _language_of(text, language)
    stems = Counter(analyze(text, lang))
    support = stems if sum(stems.values()) >= _MIN_WORDS_FOR_SUPPORT else {}
    keywords = _clean_keywords(_yake(text, lang, top * 4), lang, support)
    if not keywords:
        counts = Counter(w.lower() for w in _WORD.findall(text))
        frequent = ((w, -c) for w, c in counts.most_common(top * 4))
        keywords = _clean_keywords(frequent, lang, {})
    return keywords[:top]


def _yake(text: str, lang: str | None, count: int) -> list[tuple[str, float]]:
    # One sentence per line, each closed, so no candidate runs from a heading into the text.
    closed = "\n".join(s if _END.search(s) else s + "." for s in split_sentences(text))
    try:
        import yake

        extractor = yake.KeywordExtractor(
            lan=lang or "en", n=3, top=count, dedup_lim=0.9, stopwords=set(_stop_set(lang))
        )
        return [(kw, float(score)) for kw, score in extractor.extract_keywords(closed)]
    except Exception:  # noqa: BLE001 - YAKE trips on degenerate input (one word, only numbers)
        return []


def _clean_keywords(candidates, lang: str | None, support) -> list[str]:
    """Normalized, filtered, stem-unique keywords, best first.

    `candidates` are (phrase, score) pairs, lower scores better; with `support` (stem →
    count in the document) a phrase holding a word said only once is pushed back.
    """
    stop = _stop_set(lang)
    ranked: list[tuple[float, int, str]] = []
    for order, (phrase, score) in enumerate(candidates):
        tokens = _keyword_tokens(phrase, stop)
        acronyms = {w.lower() for w in _WORD.findall(phrase) if w.isupper() and len(w) > 1}
        if not _acceptable(tokens, stop, acronyms):
            continue
        keyword = " ".join(tokens)
        if support:
            content = analyze(" ".join(t for t in tokens if not _is_stop(t, stop)), lang)
            if min((support.get(stem, 0) for stem in content), default=0) <= 1:
                score = score * _ONE_OFF_PENALTY if score > 0 else score / _ONE_OFF_PENALTY
        ranked.append((score, order, keyword))
    ranked.sort()
    return _dedupe_stems([keyword for _score, _order, keyword in ranked], lang)


def _keyword_tokens(phrase: str, stop: frozenset[str]) -> list[str]:
    """Lowercase words, an elided article or particle dropped ("l'ordine" → "ordine")."""
    tokens = []
    for token in _WORD.findall(phrase.lower()):
        parts = _APOSTROPHE.split(token)
        if len(parts) == 2:
            head, tail = parts
            if _is_stop(head, stop) or len(head) <= 1:
                token = tail
            elif _is_stop(tail, stop) or len(tail) <= 2:
                token = head  # "customer's" → "customer"
        tokens.append(token)
    return tokens


def _acceptable(tokens: list[str], stop: frozenset[str], acronyms: set[str]) -> bool:
    if not tokens or len(" ".join(tokens)) > _MAX_KEYWORD_CHARS:
        return False
    first, last = tokens[0], tokens[-1]
    if _is_stop(first, stop) or _is_stop(last, stop):
        return False
    if not any(ch.isalpha() for ch in first):  # "30", "30 giorni", "2024"
        return False
    if (_fragment(first) and first not in acronyms) or (_fragment(last) and last not in acronyms):
        return False  # "l", "d'", "pp" are pieces; "AI", "EU", "QR" are words
    return all(
        not _is_stop(t, stop) or len(t) <= _MAX_CONNECTOR_CHARS for t in tokens[1:-1]
    )


def _fragment(token: str) -> bool:
    """A one/two-letter piece of a word; scripts without spaces have real 2-char words."""
    return len(token) <= 2 and not any(_unspaced_script(ch) for ch in token)


def _unspaced_script(ch: str) -> bool:
    return ord(ch) >= 0x2E80  # CJK, kana, hangul and beyond


def _is_stop(token: str, stop: frozenset[str]) -> bool:
    return token in stop or fold(token) in stop


def _dedupe_stems(keywords: list[str], lang: str | None) -> list[str]:
    """One keyword per idea, best first.

    Keywords are compared by the stems of their content words, so "ordine"/"ordini" and
    "costa la spedizione"/"spedizione costa" are one; a keyword whose stems are all in
    better ones ("support" after "customer support", "guida ai resi" after "guida" and
    "reso") adds nothing and goes.
    """
    stop = _stop_set(lang)
    covered: set[str] = set()
    kept: list[str] = []
    for keyword in _dedupe(keywords):
        content = " ".join(t for t in keyword.split() if not _is_stop(t, stop)) or keyword
        stems = set(analyze(content, lang)) or {keyword}
        if not stems <= covered:
            covered |= stems
            kept.append(keyword)
    return kept


@lru_cache(maxsize=64)
def _stop_set(lang: str | None) -> frozenset[str]:
    """Our stop words for `lang` with YAKE's list; YAKE's language-neutral list if neither."""
    words = set(stop_words(lang)) | _yake_stop_list(_YAKE_LISTS.get(lang or "", lang or ""))
    if not words:
        words = _yake_stop_list("noLang")
    return frozenset(words | {fold(w) for w in words})


def _yake_stop_list(name: str) -> set[str]:
    if not name:
        return set()
    try:
        import yake.core.yake as yake_core
    except ImportError:
        return set()
    path = Path(yake_core.__file__).parent / "StopwordsList" / f"stopwords_{name}.txt"
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {w.strip().lower() for w in raw.splitlines() if w.strip()}


def _dedupe(words) -> list[str]:
    seen: set[str] = set()
    result = []
    for word in words:
        norm = " ".join(word.lower().split()).strip(" .,;:")
        if norm and norm not in seen:
            seen.add(norm)
            result.append(norm)
    return result


def _cap(text: str, max_chars: int = SUMMARY_CHARS) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"
