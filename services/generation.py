"""One generated reply from the model, across the calls it takes.

A reply cut by `max_tokens` is continued: the text so far is sent back as the start of the
assistant's turn (a prefill) and the model carries on, up to `max_continuations` times;
whatever is still cut after that — or when a continuation fails — is `truncated`, never
passed off as complete. Every call of one reply shares one time budget.

The streamed form yields exactly the text the blocking form returns: leading and trailing
whitespace are held back (the stored reply is stripped, and a prefill may not end with
whitespace), so the concatenated deltas always equal the stored content.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from services import llm

CUT = {"max_tokens": "max_tokens", "model_context_window_exceeded": "context_window"}


@dataclass(frozen=True)
class ModelRequest:
    api_key: str = field(repr=False)
    base_url: str | None
    model: str
    system: str
    messages: list[dict[str, Any]]
    max_tokens: int
    max_continuations: int
    timeout: float


@dataclass
class Generated:
    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    status: str = "complete"  # complete | truncated
    status_reason: str | None = None  # max_tokens | context_window

    def add(self, result: llm.LLMResult) -> None:
        self.model = result.model or self.model
        self.input_tokens += result.input_tokens
        self.output_tokens += result.output_tokens


def _turn(request: ModelRequest, text: str) -> list[dict[str, Any]]:
    if not text:
        return request.messages
    return [*request.messages, {"role": "assistant", "content": text}]


def _next_call(gen: Generated, stop_reason: str | None, calls: int,
               request: ModelRequest) -> bool:
    """After a call: another one (a continuation), or settle the reply's status."""
    reason = CUT.get(stop_reason or "")
    if reason is None:
        gen.status, gen.status_reason = "complete", None
        return False
    gen.status, gen.status_reason = "truncated", reason
    return reason == "max_tokens" and calls <= request.max_continuations and bool(gen.text)


def generate(request: ModelRequest) -> Generated:
    """The whole reply in one piece. LLMError only if the first call fails."""
    deadline = llm.Deadline(request.timeout)
    gen = Generated(text="", model=request.model)
    calls = 0
    while True:
        calls += 1
        try:
            result = llm.complete(
                api_key=request.api_key, model=request.model, system=request.system,
                messages=_turn(request, gen.text), max_tokens=request.max_tokens,
                base_url=request.base_url, deadline=deadline)
        except llm.LLMError:
            if calls == 1:
                raise
            return gen  # the continuation failed: the reply stays truncated
        gen.add(result)
        gen.text = (gen.text + result.text).strip()
        if not _next_call(gen, result.stop_reason, calls, request):
            return gen


class GenerationStream:
    """Iterate the reply's text deltas; `generated` holds the reply so far.

    A failure of the first call, or of any call once it has produced text, escapes as
    LLMError (the reply so far stays in `generated`). A continuation that fails before its
    first delta just ends the reply, which stays truncated."""

    def __init__(self, request: ModelRequest) -> None:
        self.request = request
        self.generated = Generated(text="", model=request.model)
        self._deadline = llm.Deadline(request.timeout)

    def __iter__(self) -> Iterator[str]:
        gen, request = self.generated, self.request
        calls = 0
        while True:
            calls += 1
            pending = ""  # whitespace held back until more text follows it
            produced = False
            try:
                with llm.stream(api_key=request.api_key, model=request.model,
                                system=request.system, messages=_turn(request, gen.text),
                                max_tokens=request.max_tokens, base_url=request.base_url,
                                deadline=self._deadline) as stream:
                    for chunk in stream:
                        produced = True
                        buffered = pending + chunk
                        if not gen.text:
                            buffered = buffered.lstrip()
                        text = buffered.rstrip()
                        pending = buffered[len(text):]
                        if text:
                            gen.text += text
                            yield text
                    result = stream.result
            except llm.LLMError:
                if calls > 1 and not produced:
                    return
                raise
            assert result is not None
            gen.add(result)
            if not _next_call(gen, result.stop_reason, calls, request):
                return
