"""Preview (SPEC §11): any version of an assistant answers a question the way a
conversation would — same retrieval, same gate, same engine — and says why, with the
retrieval trace. Nothing is stored: operators try a draft before promoting it, and a
paused assistant can be tried before it is resumed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from errors import ValidationFailed
from models.orgs import Organization
from services import answering
from services.answering import Reply
from services.assistants import get_assistant, get_version
from services.conversations import check_content
from services.knowledge.scoring import GATE
from services.sessions import check_attributes

TRACE_K = 10  # candidates shown; the engine is given the first answering.TOP_K
MAX_HISTORY = 20
ROLES = ("user", "assistant")


@dataclass
class VersionView:
    """An assistant as one of its versions configures it: the version's fields, the
    assistant's knowledge scope (scopes are not versioned)."""

    id: str
    name: str
    tone: str
    language: str
    instructions: str
    task_models: dict[str, str]
    live_version: int  # the version answering, as a conversation's reply records it
    knowledge_mode: str
    knowledge_linked: list[str] = field(default_factory=list)
    knowledge_excluded: list[str] = field(default_factory=list)


@dataclass
class Preview:
    reply: Reply
    trace: list[dict[str, Any]]


def preview(org: Organization, assistant_id: str, content: str, *,
            version: int | None = None, history: Sequence[tuple[str, str]] = (),
            context: dict[str, Any] | None = None) -> Preview:
    """The reply `version` (default: the live one) would give, and every candidate
    passage with its lexical and vector rank, final score and whether it passed the gate."""
    check_content(content)
    turns = _check_history(history)
    attributes = check_attributes(context if context is not None else {}, "context")
    assistant = get_assistant(org, assistant_id)
    chosen = get_version(org, assistant, version if version is not None
                         else assistant.live_version)
    view = VersionView(
        id=assistant.id, name=chosen.name, tone=chosen.tone, language=chosen.language,
        instructions=chosen.instructions, task_models=dict(chosen.task_models or {}),
        live_version=chosen.number, knowledge_mode=assistant.knowledge_mode,
        knowledge_linked=list(assistant.knowledge_linked or []),
        knowledge_excluded=list(assistant.knowledge_excluded or []))
    candidates = answering.knowledge_search(org, content, assistant=view, top_k=TRACE_K)
    given = candidates[:answering.TOP_K]
    reply = answering.answer(org, view, content, history=turns, context=attributes,
                             retrieve=lambda *_a, **_k: list(given))
    return Preview(reply=reply, trace=[_traced(h, i < len(given))
                                       for i, h in enumerate(candidates)])


def _traced(hit: Any, given: bool) -> dict[str, Any]:
    return {"source_id": hit.source_id, "chunk_id": hit.chunk_id, "title": hit.title or "",
            "kind": hit.kind, "lexical_rank": hit.lexical_rank,
            "vector_rank": hit.vector_rank, "lexical_score": hit.lexical_score,
            "vector_score": hit.vector_score, "score": hit.score,
            "passed": hit.score >= GATE, "given_to_engine": given, "text": hit.text}


def _check_history(history: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(history) > MAX_HISTORY:
        raise ValidationFailed({"history": [f"At most {MAX_HISTORY} messages."]})
    turns = []
    for i, (role, text) in enumerate(history):
        if role not in ROLES:
            raise ValidationFailed({f"history.{i}.role": ["Must be user or assistant."]})
        try:
            turns.append((role, check_content(text)))
        except ValidationFailed as exc:
            raise ValidationFailed({f"history.{i}.content": exc.fields["content"]}) from exc
    return turns
