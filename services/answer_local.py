"""The local answer engine: extractive, grounded, in the assistant's language.

Used when no model key is configured (and as the fallback when the model fails). It never
writes a sentence of its own beyond the honest "I don't know": a near-identical Q&A
question gets its verbatim answer, otherwise the sentences of the passages that pass the
relevance gate which best answer the question are quoted with citations.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from services.prompting import AssistantProfile

LOCAL_MODEL = "local-extractive"
RELEVANCE_THRESHOLD = 0.35  # below: the passage is not about the question
QA_MATCH_SCORE = 0.85  # retrieval score at which a Q&A pair is the same question
QA_MATCH_LEXICAL = 0.8  # or: character similarity of the two questions
MAX_PASSAGES = 3
MAX_SENTENCE_CHARS = 400

NO_ANSWER = {
    "en": "I don't have information about that in my knowledge base.",
    "it": "Non ho informazioni su questo argomento nella mia base di conoscenza.",
    "es": "No tengo información sobre eso en mi base de conocimientos.",
    "fr": "Je n'ai pas d'informations à ce sujet dans ma base de connaissances.",
    "de": "Dazu habe ich keine Informationen in meiner Wissensdatenbank.",
}
_STOPWORDS_TEXT = (
    "the and for are was were with what when where which who how why does did can could "
    "you your our this that these those from have has had not but all any about into its "
    "il lo la le gli una uno per con che chi come cosa quando dove sono del della dei delle "
    "nel nella non più anche quale quali mio mia tuo tua suo sua"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class Answer:
    content: str
    citations: list[dict[str, Any]]
    retrieval: list[dict[str, Any]]
    model: str
    assistant_version: int
    answer_type: str  # "qa_match" | "extractive" | "generative" | "no_answer"
    grounded: bool
    latency_ms: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None



def citation(hit: Any) -> dict[str, Any]:
    return {"source_id": hit.source_id, "chunk_id": hit.chunk_id, "title": hit.title or "",
            "score": round(float(hit.score), 4)}


def no_answer_text(language: str) -> str:
    primary = (language or "en").split("-")[0].lower()
    return NO_ANSWER.get(primary, NO_ANSWER["en"])


def local_answer(profile: AssistantProfile, question: str, hits: list[Any]) -> Answer:
    """Extractive answer from retrieved passages; never composes facts of its own."""
    relevant = [h for h in hits if h.score >= RELEVANCE_THRESHOLD]
    base = {"retrieval": [], "model": LOCAL_MODEL, "assistant_version": profile.version,
            "input_tokens": None, "output_tokens": None}
    if not relevant:
        return Answer(content=no_answer_text(profile.language), citations=[],
                      answer_type="no_answer", grounded=False, **base)
    top = relevant[0]
    if top.kind == "qa" and top.answer and _same_question(question, top):
        return Answer(content=top.answer.strip(), citations=[citation(top)],
                      answer_type="qa_match", grounded=True, **base)
    terms = _terms(question)
    paragraphs: list[str] = []
    cited: list[Any] = []
    for hit in relevant[:MAX_PASSAGES]:
        sentences = _best_sentences(_passage_text(hit), terms, first=not cited)
        if not sentences:
            continue
        cited.append(hit)
        paragraphs.append(" ".join(sentences) + f" [{len(cited)}]")
    return Answer(content="\n\n".join(paragraphs), citations=[citation(h) for h in cited],
                  answer_type="extractive", grounded=True, **base)


def _same_question(question: str, hit: Any) -> bool:
    if hit.score >= QA_MATCH_SCORE:
        return True
    a, b = _normalize(question), _normalize(hit.question or "")
    return bool(a and b) and SequenceMatcher(None, a, b).ratio() >= QA_MATCH_LEXICAL


def _normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _stem(word: str) -> str:
    return word[:5]


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower())
            if len(w) >= 3 and w not in _STOPWORDS}


def _passage_text(hit: Any) -> str:
    if hit.kind == "qa" and hit.answer:
        return hit.answer
    return hit.text


def _best_sentences(text: str, terms: set[str], *, first: bool) -> list[str]:
    """Up to two sentences that share the most words with the question. The best passage
    with no shared word still yields its opening (retrieval judged it relevant); weaker
    passages without a shared word are left out."""
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(text) if len(s.strip()) > 1]
    if not sentences:
        return []
    scored = []
    for position, sentence in enumerate(sentences):
        words = {_stem(w) for w in _WORD.findall(sentence.lower())}
        overlap = len(terms & words) / len(terms) if terms else 0.0
        scored.append((overlap, -position, sentence))
    scored.sort(reverse=True)
    best = scored[0][0]
    if best == 0:
        chosen = [(0.0, 0, sentences[0])] if first else []
    else:
        chosen = [s for s in scored[:2] if s[0] >= best * 0.5]
    chosen.sort(key=lambda s: -s[1])  # back to reading order
    return [_clip(s[2]) for s in chosen]


def _clip(sentence: str) -> str:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    return sentence[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + " …"
