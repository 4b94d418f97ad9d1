"""Ratings summary for /analytics/feedback/: what customers think, of which assistant
version, which sources low-rated answers leaned on, and what the assistants could not
answer. Conversation models are imported lazily so analytics works without them."""
from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from extensions import db
from models.conversations import Feedback, Message
from models.knowledge import KnowledgeSource
from services.analytics.scope import Scope

LOW_RATING = 2
TOP_SOURCES = 10
TOP_GAPS = 20


def _summary(rows: list[tuple[int, int]]) -> dict[str, Any]:
    """rows: (rating, count) → count, mean, full 1..5 distribution."""
    dist = {str(r): 0 for r in range(1, 6)}
    for rating, n in rows:
        dist[str(int(rating))] += int(n)
    count = sum(dist.values())
    total = sum(int(k) * v for k, v in dist.items())
    return {"count": count, "mean": round(total / count, 3) if count else None,
            "distribution": dist}


def feedback_insights(scope: Scope) -> dict[str, Any]:
    feedback, message = Feedback, Message
    # Feedback carries no API key: api_key_id does not narrow ratings.
    where = _criteria(scope, feedback)
    by_rating = db.session.execute(
        select(feedback.rating, func.count()).where(*where).group_by(feedback.rating)).all()
    per_rating = db.session.execute(
        select(feedback.assistant_id, feedback.assistant_version, feedback.rating, func.count())
        .where(*where)
        .group_by(feedback.assistant_id, feedback.assistant_version, feedback.rating)).all()
    return {**_summary(by_rating), **_per_assistant(per_rating),
            "low_rated_sources": _low_rated_sources(feedback, where),
            "knowledge_gaps": _knowledge_gaps(message, _criteria(scope, message))}


def _criteria(scope: Scope, model: Any) -> list[Any]:
    out = []
    if scope.org_id is not None:
        out.append(model.org_id == scope.org_id)
    if scope.since is not None:
        out.append(model.created_at >= scope.since)
    if scope.until is not None:
        out.append(model.created_at < scope.until)
    return out


def _per_assistant(rows: list[tuple]) -> dict[str, list[dict[str, Any]]]:
    by_asst: dict[str, list[tuple[int, int]]] = {}
    by_version: dict[tuple[str, int | None], list[tuple[int, int]]] = {}
    for asst_id, version, rating, n in rows:
        by_asst.setdefault(asst_id, []).append((rating, n))
        by_version.setdefault((asst_id, version), []).append((rating, n))
    names = _assistant_names(list(by_asst))
    per_assistant = [{"assistant_id": a, "name": names.get(a), **_summary(r)}
                     for a, r in by_asst.items()]
    per_assistant.sort(key=lambda d: (-d["count"], d["assistant_id"]))
    per_version = [{"assistant_id": a, "assistant_version": v, **_summary(r)}
                   for (a, v), r in by_version.items()]
    per_version.sort(key=lambda d: (d["assistant_id"], d["assistant_version"] or 0))
    return {"per_assistant": per_assistant, "per_version": per_version}


def _assistant_names(ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    from models.assistants import Assistant

    return dict(db.session.execute(
        select(Assistant.id, Assistant.name).where(Assistant.id.in_(ids))).all())


def _low_rated_sources(feedback: Any, where: list[Any]) -> list[dict[str, Any]]:
    """Sources cited by answers rated ≤ 2, most often first (JSON lists counted here, the
    same way on every database)."""
    counts: Counter[str] = Counter()
    stmt = select(feedback.source_ids).where(*where, feedback.rating <= LOW_RATING)
    for (source_ids,) in db.session.execute(stmt.execution_options(yield_per=2000)):
        counts.update(set(source_ids or []))
    top = counts.most_common(TOP_SOURCES)
    titles = _source_titles([s for s, _ in top])
    return [{"source_id": s, "title": titles.get(s), "low_rated_answers": n} for s, n in top]


def _source_titles(ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(db.session.execute(
        select(KnowledgeSource.id, KnowledgeSource.title)
        .where(KnowledgeSource.id.in_(ids))).all())


def _knowledge_gaps(message: Any, where: list[Any]) -> list[dict[str, Any]]:
    """Questions the assistant answered with "I don't know" (answer_type no_answer),
    grouped by their normalized text, most frequent first."""
    question = aliased(message)
    stmt = (select(question.content, message.created_at, message.id,
                   message.conversation_id)
            .join(question, question.id == message.reply_to_id)
            .where(*where, message.role == "assistant", message.answer_type == "no_answer")
            .execution_options(yield_per=2000))
    gaps: dict[str, dict[str, Any]] = {}
    for content, when, reply_id, conversation_id in db.session.execute(stmt):
        key = " ".join((content or "").lower().split()).rstrip("?!. ")
        gap = gaps.setdefault(key, {"question": content.strip(), "count": 0,
                                    "last_asked_at": when, "last_message_id": reply_id,
                                    "last_conversation_id": conversation_id})
        gap["count"] += 1
        if when > gap["last_asked_at"]:  # the latest reply is the one to correct
            gap.update(last_asked_at=when, question=content.strip(),
                       last_message_id=reply_id, last_conversation_id=conversation_id)
    ordered = sorted(gaps.values(), key=lambda g: (-g["count"], g["question"]))
    return ordered[:TOP_GAPS]
