"""Schema objects managed by hand in migrations, which autogenerate must not diff."""
from __future__ import annotations

from typing import Any

# SQLite FTS5 table (and its shadow tables) and the PostgreSQL full-text GIN index.
UNMANAGED_PREFIXES = ("knowledge_chunks_fts",)
UNMANAGED_INDEXES = frozenset({"ix_knowledge_chunks_text_fts"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    if type_ == "table" and name and name.startswith(UNMANAGED_PREFIXES):
        return False
    if type_ == "index" and name in UNMANAGED_INDEXES:
        return False
    return True
