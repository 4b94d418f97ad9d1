"""Which sources an assistant may draw on (SPEC §3): `all` minus excluded, or `linked`.

One place computes the scope; retrieval applies it to both the vector and the lexical side
so a chunk outside it can never be returned, however well it scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from errors import ValidationFailed
from extensions import db
from models.assistants import Assistant
from models.knowledge import KnowledgeSource
from models.orgs import Organization
from services import assistants as assistant_svc


@dataclass
class Scope:
    mode: str = "all"
    linked: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    @property
    def restricted(self) -> bool:
        return self.mode == "linked" or bool(self.excluded)

    @property
    def empty(self) -> bool:
        return self.mode == "linked" and not self.linked

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A WHERE fragment over alias `s` (knowledge_sources) plus its parameters."""
        clause = "s.indexed_at IS NOT NULL"
        params: dict[str, Any] = {}
        if self.mode == "linked":
            names = [f"scope_l{i}" for i in range(len(self.linked))]
            params.update(dict(zip(names, self.linked, strict=True)))
            clause += " AND s.id IN (" + ", ".join(f":{n}" for n in names) + ")"
        if self.excluded:
            names = [f"scope_x{i}" for i in range(len(self.excluded))]
            params.update(dict(zip(names, self.excluded, strict=True)))
            clause += " AND s.id NOT IN (" + ", ".join(f":{n}" for n in names) + ")"
        return clause, params

    def allows(self, source_id: str) -> bool:
        if self.mode == "linked" and source_id not in self.linked:
            return False
        return source_id not in self.excluded


def scope_of(assistant: Assistant | None) -> Scope:
    if assistant is None:
        return Scope()
    return Scope(mode=assistant.knowledge_mode, linked=list(assistant.knowledge_linked or []),
                 excluded=list(assistant.knowledge_excluded or []))


def set_scope(org: Organization, assistant_id: str, *, mode: str, linked: list[str],
              excluded: list[str]) -> Assistant:
    """Validate that every id is one of this organization's sources, then store."""
    assistant_svc.get_assistant(org, assistant_id)
    wanted = set(linked) | set(excluded)
    known = set(db.session.execute(
        select(KnowledgeSource.id).where(KnowledgeSource.org_id == org.id,
                                         KnowledgeSource.id.in_(wanted))
    ).scalars()) if wanted else set()
    errors: dict[str, list[str]] = {}
    for name, ids in (("linked", linked), ("excluded", excluded)):
        unknown = [i for i in ids if i not in known]
        if unknown:
            errors[name] = [f"Unknown knowledge source: {', '.join(unknown[:10])}"]
    if set(linked) & set(excluded):
        errors.setdefault("excluded", []).append("A source cannot be both linked and excluded.")
    if errors:
        raise ValidationFailed(errors)
    return assistant_svc.set_knowledge_scope(org, assistant_id, mode=mode, linked=linked,
                                             excluded=excluded)
