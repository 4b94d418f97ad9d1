"""The answer pipeline (SPEC §6): retrieve → ground → generate, without writing anything.

`prepare()` does every read (retrieval, the live profile, settings) and captures it as plain
values, so the caller can release its database connection before the model is called;
`generate()` and `stream()` then touch no database. services.conversations stores the
question and the reply in one transaction afterwards, so a failed model call leaves
nothing half-written.

Two engines:
- with `ANTHROPIC_API_KEY`: the Messages API (services.generation) with passages as quoted
  data (services.prompting) and the cited [n] numbers mapped back to chunks. When the model
  fails, `LLM_FAILURE_MODE` decides: `fallback` (default) answers with the local engine and
  records why in `fallback_reason`; `fail` raises 502 `llm_error` naming the cause;
- without it, the local extractive engine (services.answer_local): a near-identical Q&A
  pair verbatim, otherwise the most relevant sentences of the best passages with
  citations, and an honest "I don't know" when nothing is relevant enough.

A reply records how it ended: `status` complete | truncated (cut by the model's token
limit after its continuations) | incomplete (the stream stopped: the client went away or
the model failed mid-reply), with `status_reason`.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from flask import current_app

from services.answer_local import (
    LOCAL_MODEL,
    Answer,
    citation as _citation,
    local_answer,
    no_answer_text,
    reply_language,
)
from services.generation import GenerationStream, ModelRequest, generate as _generate_text
from services.llm import LLMError
from services.prompting import (
    AssistantProfile,
    build_messages,
    build_system,
    build_user_turn,
    cited_indices,
)

__all__ = ["LOCAL_MODEL", "Engine", "Prepared", "Reply", "ReplyStream", "answer",
           "engine_for", "generate", "knowledge_search", "prepare", "stream"]

TOP_K = 5
CITE_THRESHOLD = 0.5  # LLM cited nothing: cite passages at least this relevant
# Local answers stream sentence by sentence: split after . ! ? or a [n] marker.
_PIECES = re.compile(r"(?<=[.!?\]])(?=\s)")

Retriever = Callable[..., list[Any]]


@dataclass
class Reply(Answer):
    """An Answer plus how it ended and, after a model failure, why the local engine
    answered instead."""

    status: str = "complete"  # complete | truncated | incomplete
    status_reason: str | None = None  # max_tokens | context_window | client_disconnected
    #                                   | llm_error:<cause> | internal_error
    fallback_reason: str | None = None  # the model's failure cause (see services.llm)

    @classmethod
    def of(cls, answer: Answer, **extra: Any) -> "Reply":
        values = {f.name: getattr(answer, f.name) for f in fields(answer)}
        return cls(**{**values, **extra})


@dataclass
class Prepared:
    """Everything an answer needs, as plain values: no ORM row, no session."""

    profile: AssistantProfile
    question: str
    hits: list[Any]
    model: ModelRequest | None  # None: the local engine answers
    failure_mode: str
    started: float = field(default_factory=time.monotonic)

    @property
    def retrieval(self) -> list[dict[str, Any]]:
        return [{"source_id": h.source_id, "chunk_id": h.chunk_id, "kind": h.kind,
                 "score": round(float(h.score), 4)} for h in self.hits]


def knowledge_search(org: Any, query: str, *, assistant: Any = None,
                     top_k: int = TOP_K) -> list[Any]:
    """The knowledge module's retrieval, imported late so this module loads without it."""
    from services.knowledge.retrieval import search

    return search(org, query, assistant=assistant, top_k=top_k)


def prepare(
    org: Any, assistant: Any, question: str, *, history: list[tuple[str, str]],
    context: dict[str, Any], retrieve: Retriever | None = None,
) -> Prepared:
    """Every read the answer needs. `retrieve` is injectable so the engine can run against
    any retrieval with the `search(org, query, *, assistant, top_k)` shape."""
    started = time.monotonic()
    hits = (retrieve or knowledge_search)(org, question, assistant=assistant, top_k=TOP_K)
    hits = sorted(hits, key=lambda h: h.score, reverse=True)
    profile = AssistantProfile(name=assistant.name, tone=assistant.tone or "",
                               language=assistant.language or "en",
                               instructions=assistant.instructions or "",
                               version=assistant.live_version)
    config = current_app.config
    model = None
    if config.get("ANTHROPIC_API_KEY"):
        model = ModelRequest(
            api_key=config["ANTHROPIC_API_KEY"], base_url=config.get("ANTHROPIC_BASE_URL"),
            model=_chat_model(org, assistant), system=build_system(profile),
            messages=build_messages(history, build_user_turn(question, hits, context)),
            max_tokens=int(config.get("LLM_MAX_TOKENS", 1024)),
            max_continuations=int(config.get("LLM_MAX_CONTINUATIONS", 2)),
            timeout=float(config.get("ANTHROPIC_TIMEOUT_SECONDS", 60.0)),
        )
    return Prepared(profile=profile, question=question, hits=hits, model=model,
                    failure_mode=config.get("LLM_FAILURE_MODE", "fallback"), started=started)


def answer(
    org: Any, assistant: Any, question: str, *, history: list[tuple[str, str]],
    context: dict[str, Any], retrieve: Retriever | None = None,
) -> Reply:
    """Compute the reply to `question`; reads only (prepare + generate in one call)."""
    from extensions import db

    prepared = prepare(org, assistant, question, history=history, context=context,
                       retrieve=retrieve)
    # Nothing is pending (we only read): ending the read transaction returns the pooled
    # connection for the seconds the model takes; callers' rows stay usable.
    if prepared.model is not None:
        db.session.rollback()
    return generate(prepared)


def generate(prepared: Prepared) -> Reply:
    """The whole reply at once. Touches no database."""
    if prepared.model is None:
        return _finished(prepared, Reply.of(local_answer(
            prepared.profile, prepared.question, prepared.hits)))
    try:
        gen = _generate_text(prepared.model)
    except LLMError as exc:
        return _finished(prepared, _fallback(prepared, exc))
    reply = _generative(prepared, gen.text, gen.model, gen.input_tokens, gen.output_tokens)
    reply.status, reply.status_reason = gen.status, gen.status_reason
    return _finished(prepared, reply)


def stream(prepared: Prepared) -> "ReplyStream":
    """The reply as text deltas; call `start()` first (see ReplyStream)."""
    return ReplyStream(prepared)


class ReplyStream:
    """One reply, streamed. Touches no database.

    `start()` runs the engine up to its first delta, so a model failure before any text
    is still an ordinary error (fail mode) or a switch to the local engine (fallback).
    Iterating yields the deltas, the first included; a model failure later ends the
    iteration and is kept in `error`. `finish(sent)` gives the Reply for the text that was
    actually delivered: all of it, or less when the stream was interrupted."""

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.error: LLMError | None = None
        self._local: Reply | None = None
        self._gen: GenerationStream | None = None
        self._deltas: Iterator[str] = iter(())
        self._first: str | None = None

    @property
    def fails_loudly(self) -> bool:
        """A mid-stream model failure ends with an `error` event rather than `done`."""
        return self.prepared.failure_mode == "fail"

    def start(self) -> None:
        prepared = self.prepared
        if prepared.model is None:
            self._use_local(Reply.of(local_answer(prepared.profile, prepared.question,
                                                  prepared.hits)))
            return
        self._gen = GenerationStream(prepared.model)
        self._deltas = iter(self._gen)
        try:
            self._first = next(self._deltas, None)
        except LLMError as exc:
            self._use_local(_fallback(prepared, exc))
            return
        if self._first is None:  # the model said nothing: an honest no-answer
            self._first = no_answer_text(reply_language(prepared.profile, prepared.question))

    def __iter__(self) -> Iterator[str]:
        try:
            if self._first is not None:
                yield self._first
            yield from self._deltas
        except LLMError as exc:
            self.error = exc
        finally:
            self.close()  # also when the consumer stops early: ends the upstream stream

    def close(self) -> None:
        """Stop early (the client went away): closes the upstream model stream."""
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()

    def finish(self, sent: str, *, interrupted: str | None = None) -> Reply:
        prepared = self.prepared
        if self.error is not None and interrupted is None:
            interrupted = f"llm_error:{self.error.cause}"
        if self._local is not None:
            reply = _partial_local(self._local, sent) if interrupted else self._local
        else:
            assert self._gen is not None
            gen = self._gen.generated
            if gen.text:
                reply = _generative(prepared, sent, gen.model, gen.input_tokens,
                                    gen.output_tokens, no_answer_if_empty=False)
            else:  # the model said nothing: the no-answer text was streamed instead
                reply = _generative(prepared, "", gen.model, gen.input_tokens,
                                    gen.output_tokens)
                reply.content = sent if interrupted else reply.content
            reply.status, reply.status_reason = gen.status, gen.status_reason
        if interrupted:
            reply.status, reply.status_reason = "incomplete", interrupted
        return _finished(prepared, reply)

    def _use_local(self, reply: Reply) -> None:
        self._local = reply
        pieces = [p for p in _PIECES.split(reply.content) if p]
        self._first = pieces[0] if pieces else None
        self._deltas = iter(pieces[1:])


def _chat_model(org: Any, assistant: Any | None) -> str:
    return ((getattr(assistant, "task_models", None) or {}).get("chat")
            or (org.task_models or {}).get("chat")
            or current_app.config["DEFAULT_CHAT_MODEL"])


@dataclass(frozen=True)
class Engine:
    """Which engine writes this assistant's replies right now. Operators read the task
    models (`chat → claude-…`) as a promise; without a model key the local engine answers
    instead, and the console must say so rather than let them guess."""

    model: str  # what replies record as their model
    configured_model: str  # the chat model the settings name
    generative: bool
    explanation: str


def engine_for(org: Any, assistant: Any | None = None) -> Engine:
    """The engine `prepare()` would pick for `assistant` (None: the organization's default)."""
    configured = _chat_model(org, assistant)
    if current_app.config.get("ANTHROPIC_API_KEY"):
        return Engine(model=configured, configured_model=configured, generative=True,
                      explanation=f"{configured} (Anthropic) writes each reply from the "
                                  "passages retrieval finds, and cites them.")
    return Engine(model=LOCAL_MODEL, configured_model=configured, generative=False,
                  explanation="No model key (ANTHROPIC_API_KEY) is set on this server, so "
                              "the local engine answers: it quotes the best matching "
                              f"passages or Q&A pairs. {configured} takes over once a key "
                              "is set.")


def _fallback(prepared: Prepared, exc: LLMError) -> Reply:
    """The model failed before any text: the local engine answers (fallback mode)."""
    if prepared.failure_mode == "fail":
        raise exc
    local = local_answer(prepared.profile, prepared.question, prepared.hits)
    return Reply.of(local, fallback_reason=exc.cause)


def _generative(prepared: Prepared, text: str, model: str, input_tokens: int,
                output_tokens: int, *, no_answer_if_empty: bool = True) -> Reply:
    hits = prepared.hits
    if not text and no_answer_if_empty:  # an empty completion is no answer, never blank
        content, cited = no_answer_text(reply_language(prepared.profile, prepared.question)), []
    else:
        content = text
        cited = [hits[n - 1] for n in cited_indices(text, len(hits))]
        if not cited and text:
            cited = [h for h in hits if h.score >= CITE_THRESHOLD]
    return Reply(
        content=content, citations=[_citation(h) for h in cited], retrieval=[],
        model=model, assistant_version=prepared.profile.version,
        answer_type="generative" if text else "no_answer", grounded=bool(cited),
        input_tokens=input_tokens, output_tokens=output_tokens,
    )


def _partial_local(reply: Reply, sent: str) -> Reply:
    """The part of a local answer that was delivered, citing only what it marks."""
    citations = reply.citations
    marked = cited_indices(reply.content, len(citations))
    if marked:
        citations = [citations[n - 1] for n in cited_indices(sent, len(citations))]
    elif not sent:
        citations = []
    return Reply.of(reply, content=sent, citations=citations,
                    grounded=reply.grounded and bool(citations))


def _finished(prepared: Prepared, reply: Reply) -> Reply:
    reply.retrieval = prepared.retrieval
    reply.latency_ms = int((time.monotonic() - prepared.started) * 1000)
    return reply
