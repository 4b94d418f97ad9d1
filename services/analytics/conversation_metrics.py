"""Conversation analytics for support leads (SPEC §11): per hour or day and per assistant
version — conversations, messages, unique end users, the share of replies that were an
"I don't know", and ratings. Grouped in SQL; empty buckets are present with zeros.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import case, distinct, func, select

from extensions import db
from models.conversations import Conversation, Feedback, Message
from services.analytics.scope import DAY, HOUR, Scope, bucket_starts, to_datetime, trunc_expr

Key = tuple[str, int | None]  # (assistant_id, assistant_version)


def conversation_metrics(scope: Scope, interval: str) -> dict[str, Any]:
    step = DAY if interval == "day" else HOUR
    starts = bucket_starts(scope.since, scope.until, step)  # type: ignore[arg-type]
    cells: dict[Any, dict[Key, dict[str, float]]] = defaultdict(lambda: defaultdict(_zero))
    for bucket, key, values in _rows(scope, step):
        cell = cells[bucket][key]
        for name, value in values.items():
            cell[name] += value
    users = _end_users(scope, step)
    buckets = []
    for start in starts:
        per_version = cells.get(start, {})
        total = _zero()
        for values in per_version.values():
            for name, value in values.items():
                total[name] += value
        buckets.append({
            "start": start, **_finish(total), "end_users": users.get(start, 0),
            "versions": [{"assistant_id": a, "assistant_version": v, **_finish(values)}
                         for (a, v), values in sorted(per_version.items(),
                                                      key=lambda kv: (kv[0][0], kv[0][1] or 0))],
        })
    overall = _zero()
    by_version: dict[Key, dict[str, float]] = defaultdict(_zero)
    for per_version in cells.values():
        for key, values in per_version.items():
            for name, value in values.items():
                overall[name] += value
                by_version[key][name] += value
    return {
        "interval": interval, "since": scope.since, "until": scope.until,
        "totals": {**_finish(overall), "end_users": _end_users_total(scope)},
        "per_version": [{"assistant_id": a, "assistant_version": v, **_finish(values)}
                        for (a, v), values in sorted(by_version.items(),
                                                     key=lambda kv: (kv[0][0], kv[0][1] or 0))],
        "buckets": buckets,
    }


def _zero() -> dict[str, float]:
    return {"conversations": 0, "messages": 0, "replies": 0, "no_answers": 0, "ratings": 0,
            "rating_sum": 0}


def _finish(v: dict[str, float]) -> dict[str, Any]:
    return {"conversations": int(v["conversations"]), "messages": int(v["messages"]),
            "replies": int(v["replies"]),
            "no_answer_rate": round(v["no_answers"] / v["replies"], 4) if v["replies"]
            else None,
            "ratings": int(v["ratings"]),
            "mean_rating": round(v["rating_sum"] / v["ratings"], 3) if v["ratings"] else None}


def _where(scope: Scope, model: Any) -> list[Any]:
    out = [model.org_id == scope.org_id] if scope.org_id is not None else []
    if scope.since is not None:
        out.append(model.created_at >= scope.since)
    if scope.until is not None:
        out.append(model.created_at < scope.until)
    return out


def _rows(scope: Scope, step: timedelta) -> Any:
    """(bucket start, (assistant, version), counts) from three grouped queries."""
    t = trunc_expr(Conversation.created_at, step)
    for b, a, v, n in db.session.execute(
            select(t, Conversation.assistant_id, Conversation.assistant_version, func.count())
            .where(*_where(scope, Conversation)).group_by(t, Conversation.assistant_id,
                                                          Conversation.assistant_version)):
        yield to_datetime(b), (a, v), {"conversations": n}
    t = trunc_expr(Message.created_at, step)
    is_reply = Message.role == "assistant"
    for b, a, v, n, replies, no_answers in db.session.execute(
            select(t, Conversation.assistant_id, Conversation.assistant_version, func.count(),
                   func.sum(case((is_reply, 1), else_=0)),
                   func.sum(case((is_reply & (Message.answer_type == "no_answer"), 1),
                                 else_=0)))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(*_where(scope, Message))
            .group_by(t, Conversation.assistant_id, Conversation.assistant_version)):
        yield to_datetime(b), (a, v), {"messages": n, "replies": int(replies or 0),
                                       "no_answers": int(no_answers or 0)}
    t = trunc_expr(Feedback.created_at, step)
    for b, a, v, n, total in db.session.execute(
            select(t, Feedback.assistant_id, Feedback.assistant_version, func.count(),
                   func.sum(Feedback.rating))
            .where(*_where(scope, Feedback))
            .group_by(t, Feedback.assistant_id, Feedback.assistant_version)):
        yield to_datetime(b), (a, v), {"ratings": n, "rating_sum": int(total or 0)}


def _end_users(scope: Scope, step: timedelta) -> dict[Any, int]:
    """Distinct known end users with a conversation started in each bucket."""
    t = trunc_expr(Conversation.created_at, step)
    return {to_datetime(b): n for b, n in db.session.execute(
        select(t, func.count(distinct(Conversation.end_user_id)))
        .where(*_where(scope, Conversation)).group_by(t))}


def _end_users_total(scope: Scope) -> int:
    return int(db.session.execute(
        select(func.count(distinct(Conversation.end_user_id)))
        .where(*_where(scope, Conversation))).scalar_one())
