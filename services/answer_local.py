"""The local answer engine: extractive, grounded, in the assistant's language.

Used when no model key is configured (and as the fallback when the model fails). It never
writes a sentence of its own beyond the honest "I don't know":
- a Q&A pair whose question is the same question (by meaning, in any language, or by
  wording) is answered with its verbatim answer;
- otherwise the sentences that best answer the question are quoted whole, chosen by their
  meaning (the organization's embedding model) together with the question's words they
  contain (stemmed in the passage's language), only from passages that pass the relevance
  gate — so the reply is `grounded` exactly when it quotes something;
- when no passage passes the gate, it says it does not know, in the assistant's language
  (or the question's, for an assistant set to `auto`).
"""
from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from services.answer_texts import no_answer_text
from services.knowledge.language import content_terms, detect, primary, words
from services.knowledge.scoring import GATE
from services.knowledge.sentences import heading_like
from services.knowledge.sentences import quoted_sentences as split_sentences
from services.prompting import AssistantProfile

LOCAL_MODEL = "local-extractive"
QA_MATCH_LEXICAL = 0.8  # character similarity of the two questions
MAX_PASSAGES = 3  # gated passages whose sentences compete
TARGET_CHARS = 350  # a focused reply: add a second sentence only while under this
SECOND_SENTENCE_RATIO = 0.7  # ... and only when it scores nearly as well as the best
SENTENCE_GATE = 0.25  # a quoted sentence must relate to the question at least this much
OVERLAP_WEIGHT = 0.5  # the question's words a sentence contains, beside its meaning
# The passage's own relevance (the calibrated score, 0..1) weighs about as much as a
# sentence's meaning: on SQuAD-it (bench/RESULTS.md, 2026-12-02) the ranker's judgement
# of the whole passage picks the right one more often than one sentence's closeness does.
PASSAGE_WEIGHT = 1.0
HEADING_MAX_WORDS = 4  # a heading-like line this short ("Pagamenti") is never quoted


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


@dataclass
class _Sentence:
    text: str
    hit_index: int
    position: int
    relevance: float = 0.0  # how much the sentence itself relates to the question
    score: float = 0.0  # relevance plus its passage's: the order sentences are chosen in


def citation(hit: Any) -> dict[str, Any]:
    return {"source_id": hit.source_id, "chunk_id": hit.chunk_id, "title": hit.title or "",
            "score": round(float(hit.score), 4)}


def reply_language(profile: AssistantProfile, question: str) -> str:
    """The assistant's language; `auto` (or none) answers in the question's language."""
    configured = primary(profile.language)
    if configured in ("auto", "und", "mul"):
        return detect(question, min_confidence=0.5) or "en"
    return configured


def local_answer(profile: AssistantProfile, question: str, hits: list[Any]) -> Answer:
    """Extractive answer from retrieved passages; never composes facts of its own."""
    relevant = [h for h in hits if h.score >= GATE]
    base = {"retrieval": [], "model": LOCAL_MODEL, "assistant_version": profile.version,
            "input_tokens": None, "output_tokens": None}
    idk = Answer(content=no_answer_text(reply_language(profile, question)), citations=[],
                 answer_type="no_answer", grounded=False, **base)
    if not relevant:
        return idk
    for hit in relevant:
        if hit.kind == "qa" and hit.answer and _same_question(question, hit):
            return Answer(content=hit.answer.strip(), citations=[citation(hit)],
                          answer_type="qa_match", grounded=True, **base)
    passages = relevant[:MAX_PASSAGES]
    chosen = _choose_sentences(question, passages)
    if not chosen:
        return idk
    cited: list[Any] = []
    parts: list[str] = []
    for sentence in chosen:  # reading order within a passage, best passage first
        hit = passages[sentence.hit_index]
        if hit not in cited:
            cited.append(hit)
        number = cited.index(hit) + 1
        if parts and parts[-1].endswith(f"[{number}]"):
            parts[-1] = parts[-1][: -len(f" [{number}]")] + f" {sentence.text} [{number}]"
        else:
            parts.append(f"{sentence.text} [{number}]")
    return Answer(content=" ".join(parts), citations=[citation(h) for h in cited],
                  answer_type="extractive", grounded=True, **base)


def _same_question(question: str, hit: Any) -> bool:
    if getattr(hit, "same_question", False):
        return True
    a, b = _normalize(question), _normalize(hit.question or "")
    return bool(a and b) and SequenceMatcher(None, a, b).ratio() >= QA_MATCH_LEXICAL


def _normalize(text: str) -> str:
    return " ".join(words(text))


def _passage_text(hit: Any) -> str:
    if hit.kind == "qa" and hit.answer:
        return hit.answer
    return hit.text


def _choose_sentences(question: str, passages: list[Any]) -> list[_Sentence]:
    """The best sentence, and a second one (from any gated passage) when it is nearly as
    good and the reply stays short; never a sentence that does not relate to the question."""
    candidates: list[_Sentence] = []
    seen: set[str] = set()
    for index, hit in enumerate(passages):
        for position, sentence in enumerate(split_sentences(_passage_text(hit))):
            key = sentence.casefold()
            # Chunks repeat their predecessor's last sentences: quote (and cite) each once,
            # from the best passage that has it. A bare heading says nothing on its own.
            if key in seen or (hit.kind != "qa"
                               and heading_like(sentence, max_words=HEADING_MAX_WORDS)):
                continue
            seen.add(key)
            candidates.append(_Sentence(sentence, index, position))
    if not candidates:
        return []
    semantic = _semantic_scores(question, [c.text for c in candidates], passages)
    question_terms = [content_terms(question, getattr(h, "language", None)) for h in passages]
    for candidate, sim in zip(candidates, semantic, strict=True):
        hit = passages[candidate.hit_index]
        terms = question_terms[candidate.hit_index]
        overlap = (len(terms & content_terms(candidate.text, getattr(hit, "language", None)))
                   / len(terms)) if terms else 0.0
        # the sentence's meaning and shared words gate it; its passage's relevance joins
        # them to choose between sentences that pass
        candidate.relevance = sim + OVERLAP_WEIGHT * overlap
        candidate.score = candidate.relevance + PASSAGE_WEIGHT * float(hit.score)
    ranked = sorted((c for c in candidates if c.relevance >= SENTENCE_GATE),
                    key=lambda c: (-c.score, c.hit_index, c.position))
    if not ranked:
        return []
    best = ranked[0]
    chosen = [best]
    for other in ranked[1:6]:
        if (other.score >= best.score * SECOND_SENTENCE_RATIO
                and len(best.text) + len(other.text) + 10 <= TARGET_CHARS):
            chosen.append(other)
            break
    return sorted(chosen, key=lambda c: (c.hit_index, c.position))


def _semantic_scores(question: str, sentences: list[str], passages: list[Any]) -> list[float]:
    """Cosine of each sentence to the question under the model that retrieved the
    passages, rescaled so unrelated ≈ 0 and a paraphrase ≈ 1 (models differ in range)."""
    from services.knowledge.retrieval import sentence_similarity

    model = next((getattr(h, "model", None) for h in passages if getattr(h, "model", None)),
                 None)
    known: dict[str, float] = {}
    for hit in passages:  # the cosines search read from the stored sentence vectors
        known.update(getattr(hit, "sentence_cosines", None) or {})
    return sentence_similarity(question, sentences, model, known)
