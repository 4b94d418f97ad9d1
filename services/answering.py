"""The answer pipeline (SPEC §6): retrieve → ground → generate, without writing anything.

`answer()` only computes; services.conversations stores the question and the reply in one
transaction afterwards, so a failed model call leaves nothing half-written.

Two engines:
- with `ANTHROPIC_API_KEY`: the Messages API (services.llm) with passages as quoted data
  (services.prompting) and the cited [n] numbers mapped back to chunks;
- without it, a local extractive engine: a near-identical Q&A pair is answered verbatim,
  otherwise the most relevant sentences of the best passages are quoted with citations,
  and when nothing is relevant enough it says so. It never writes a sentence of its own
  beyond the honest "I don't know".
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import current_app

from services.answer_local import Answer, citation as _citation, local_answer, no_answer_text
from services.prompting import (
    AssistantProfile,
    build_messages,
    build_system,
    build_user_turn,
    cited_indices,
)

TOP_K = 5
CITE_THRESHOLD = 0.5  # LLM cited nothing: cite passages at least this relevant

Retriever = Callable[..., list[Any]]


def knowledge_search(org: Any, query: str, *, assistant: Any = None,
                     top_k: int = TOP_K) -> list[Any]:
    """The knowledge module's retrieval, imported late so this module loads without it."""
    from services.knowledge.retrieval import search

    return search(org, query, assistant=assistant, top_k=top_k)


def answer(
    org: Any, assistant: Any, question: str, *, history: list[tuple[str, str]],
    context: dict[str, Any], retrieve: Retriever | None = None,
) -> Answer:
    """Compute the reply to `question`; reads only. `retrieve` is injectable so the engine
    can run against any retrieval with the `search(org, query, *, assistant, top_k)` shape."""
    started = time.monotonic()
    hits = (retrieve or knowledge_search)(org, question, assistant=assistant, top_k=TOP_K)
    hits = sorted(hits, key=lambda h: h.score, reverse=True)
    profile = AssistantProfile(name=assistant.name, tone=assistant.tone or "",
                               language=assistant.language or "en",
                               instructions=assistant.instructions or "",
                               version=assistant.live_version)
    api_key = current_app.config.get("ANTHROPIC_API_KEY")
    if api_key:
        result = _generate(api_key, _chat_model(org, assistant), profile, question, hits,
                           history, context)
    else:
        result = local_answer(profile, question, hits)
    result.retrieval = [{"source_id": h.source_id, "chunk_id": h.chunk_id, "kind": h.kind,
                         "score": round(float(h.score), 4)} for h in hits]
    result.latency_ms = int((time.monotonic() - started) * 1000)
    return result


def _chat_model(org: Any, assistant: Any) -> str:
    return ((assistant.task_models or {}).get("chat")
            or (org.task_models or {}).get("chat")
            or current_app.config["DEFAULT_CHAT_MODEL"])


def _generate(api_key: str, model: str, profile: AssistantProfile, question: str,
              hits: list[Any], history: list[tuple[str, str]],
              context: dict[str, Any]) -> Answer:
    from extensions import db
    from services.llm import complete

    system = build_system(profile)
    messages = build_messages(history, build_user_turn(question, hits, context))
    base_url = current_app.config.get("ANTHROPIC_BASE_URL")
    # Nothing is pending (we only read): end the read transaction so the pooled connection
    # is not held idle for the seconds the model takes.
    db.session.rollback()
    result = complete(api_key=api_key, model=model, system=system, messages=messages,
                      base_url=base_url)
    text = result.text.strip()
    if not text:  # an empty completion is no answer, never a blank reply
        text, cited = no_answer_text(profile.language), []
    else:
        cited = [hits[n - 1] for n in cited_indices(text, len(hits))]
        if not cited:
            cited = [h for h in hits if h.score >= CITE_THRESHOLD]
    return Answer(
        content=text, citations=[_citation(h) for h in cited], retrieval=[],
        model=result.model or model, assistant_version=profile.version,
        answer_type="generative" if cited or result.text.strip() else "no_answer",
        grounded=bool(cited),
        input_tokens=result.input_tokens, output_tokens=result.output_tokens,
    )
