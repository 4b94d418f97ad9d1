"""Summaries and keywords for a knowledge source.

With an Anthropic key we ask the configured model; without one (or when its answer is
unusable) a local engine does the job: an extractive summary by sentence centrality and
YAKE keywords. Enrichment must never fail an ingestion, so every path ends in a result.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from errors import ServiceUnavailable

LOCAL_ENGINE = "local"
LOCAL_MODEL = "tfidf-centroid+yake"
SUMMARY_CHARS = 600
_LLM_INPUT_CHARS = 24_000
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n{2,}")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)

_SYSTEM = (
    "You summarise documents for a customer-support knowledge base. Reply with one JSON "
    'object only, no prose: {"summary": "<2-3 sentences, at most 600 characters>", '
    '"keywords": ["<5-10 short lowercase keywords>"]}.'
)


@dataclass(frozen=True)
class Enrichment:
    summary: str
    keywords: list[str]
    engine: str
    model: str
    fallback_reason: str | None = field(default=None)


def enrich(
    text: str, *, anthropic_api_key: str | None, model: str, base_url: str | None = None
) -> Enrichment:
    """LLM enrichment when a key is configured, the local engine otherwise or on failure."""
    if not anthropic_api_key:
        return _local()(text)
    from services import llm

    try:
        result = llm.complete(
            api_key=anthropic_api_key,
            model=model,
            system=_SYSTEM,
            messages=[{"role": "user", "content": _document_prompt(text)}],
            max_tokens=600,
            base_url=base_url,
        )
    except ServiceUnavailable as exc:
        return _local(f"llm unavailable: {exc.message}")(text)
    parsed = parse_enrichment_json(result.text)
    if parsed is None:
        return _local("llm returned malformed output")(text)
    summary, keywords = parsed
    return Enrichment(summary, keywords, engine="anthropic", model=result.model or model)


def _document_prompt(text: str) -> str:
    return f"<document>\n{text[:_LLM_INPUT_CHARS]}\n</document>"


def _local(reason: str | None = None):
    def run(text: str) -> Enrichment:
        return Enrichment(
            summarize_local(text), keywords_local(text), LOCAL_ENGINE, LOCAL_MODEL, reason
        )

    return run


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


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def summarize_local(text: str, *, sentences: int = 3, max_chars: int = SUMMARY_CHARS) -> str:
    """The `sentences` most central sentences (TF-IDF cosine to the centroid), in order.

    Centrality favours sentences that share vocabulary with the whole document, which is a
    robust, language-agnostic stand-in for "what this document is about".
    """
    candidates = split_sentences(text)
    if len(candidates) <= sentences:
        return _cap(" ".join(" ".join(s.split()) for s in candidates), max_chars)
    tokenized = [[w.lower() for w in _WORD.findall(s)] for s in candidates]
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
        if len(tokenized[index]) < 3:
            score *= 0.5  # fragments (headings, labels) make poor summary sentences
        scores.append((score, -index))
    best = sorted(range(n), key=lambda i: scores[i], reverse=True)[:sentences]
    picked = [" ".join(candidates[i].split()) for i in sorted(best)]
    return _cap(" ".join(picked), max_chars)


def keywords_local(text: str, top: int = 10) -> list[str]:
    """YAKE keywords, lowercased and de-duplicated; word frequency when YAKE finds none."""
    text = text[:200_000]
    keywords: list[str] = []
    try:
        import yake

        extractor = yake.KeywordExtractor(lan="en", n=2, top=top * 2, dedup_lim=0.8)
        keywords = [kw for kw, _score in extractor.extract_keywords(text)]
    except Exception:  # noqa: BLE001 - YAKE trips on degenerate input (one word, only numbers)
        keywords = []
    result = _dedupe(keywords)
    if not result:
        counts = Counter(w.lower() for w in _WORD.findall(text) if len(w) > 2)
        result = _dedupe([*result, *(w for w, _ in counts.most_common(top * 2))])
    return result[:top]


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
