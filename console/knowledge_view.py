"""What the knowledge pages share: how a source row is rendered and polled, provenance
labels, and the job behind a source.

Kept apart from the blueprints so the library, the Q&A bank, the URL list and the search
tester render a source (badges, live status, progress) in exactly one way.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from sqlalchemy import select

from extensions import db
from models.jobs import Job
from models.knowledge import SOURCE_KINDS, SOURCE_STATUSES, KnowledgeSource
from models.orgs import Organization

KIND_LABELS = {"file": "File", "qa": "Q&A", "url": "URL"}
PENDING = ("queued", "processing")
PAGE_SIZE = 25


def provenance_label(provenance: dict[str, Any] | None) -> str:
    """Where a passage came from, in words an operator reads at a glance."""
    p = provenance or {}
    parts: list[str] = []
    if "page" in p:
        parts.append(f"page {p['page']}")
    if p.get("heading"):
        parts.append(f"§ {p['heading']}")
    if "line" in p:
        parts.append(f"line {p['line']}")
    rows = p.get("rows")
    if isinstance(rows, list | tuple) and len(rows) == 2:
        parts.append(f"rows {rows[0]}–{rows[1]}")
    if p.get("path"):
        parts.append(str(p["path"]))
    if p.get("ocr"):
        parts.append("image text (OCR)")
    if p.get("qa"):
        parts.append("question & answer")
    if p.get("url"):
        parts.append(str(p["url"]))
    return " · ".join(parts) or "whole source"


def human_size(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - loop always returns


def jobs_of(org: Organization, sources: list[KnowledgeSource]) -> dict[str, Job]:
    """source id → its latest job, in one query (rows show progress while processing)."""
    ids = {s.last_job_id for s in sources if s.last_job_id}
    if not ids:
        return {}
    rows = db.session.execute(select(Job).where(Job.org_id == org.id, Job.id.in_(ids)))
    by_id = {j.id: j for j in rows.scalars()}
    return {s.id: by_id[s.last_job_id] for s in sources if s.last_job_id in by_id}


def render_rows(org: Organization, sources: list[KnowledgeSource], *,
                template: str = "knowledge/_source_row.html") -> str:
    jobs = jobs_of(org, sources)
    return "".join(render_template(template, s=s, job=jobs.get(s.id)) for s in sources)


def filter_choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A filter value we know, or None (an unknown one shows everything, never a 500)."""
    return value if value in allowed else None


def init_knowledge_filters(app: Flask) -> None:
    """Jinja helpers the knowledge templates use; registered once by the blueprint."""
    app.jinja_env.filters["provenance"] = provenance_label
    app.jinja_env.filters["filesize"] = human_size
    app.jinja_env.globals.update(KIND_LABELS=KIND_LABELS, SOURCE_KINDS=SOURCE_KINDS,
                                 SOURCE_STATUSES=SOURCE_STATUSES, PENDING_STATUSES=PENDING)
