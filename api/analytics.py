"""`/analytics/` — request logs, usage, endpoints, throttling and ratings (SPEC §7).

Org keys read their own organization; platform keys read every organization or the one
named by `organization_id`. Reads are thin: resolve the scope, call services.analytics.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, stream_with_context

from api.auth import current_auth
from api.endpoint import endpoint
from api.schemas.analytics import (
    AnalyticsQuery,
    ConversationsOut,
    EndpointsOut,
    FeedbackOut,
    LogOut,
    LogPage,
    LogsQuery,
    PagedQuery,
    RateLimitEventOut,
    RateLimitsOut,
    UsageOut,
    UsageQuery,
)
from models.types import utcnow
from services.analytics import queries
from services.analytics.conversation_metrics import conversation_metrics
from services.analytics.feedback_insights import feedback_insights
from services.analytics.scope import Scope, resolve_org

bp = Blueprint("analytics", __name__, url_prefix="/analytics")
TAGS = ["Analytics"]
USAGE_DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}


def _scope(query: AnalyticsQuery, default_span: timedelta | None = None) -> Scope:
    auth = current_auth()
    org_id = resolve_org(own_org_id=auth.org.id if auth.org else None,
                         is_platform=auth.is_platform, organization_id=query.organization_id)
    since, until = query.since, query.until
    if default_span is not None:
        since, until = queries.default_range(since, until, default_span, utcnow())
    return Scope(org_id, api_key_id=query.api_key_id, since=since, until=until)


def _echo(scope: Scope) -> dict[str, str | None]:
    return {"organization_id": scope.org_id, "api_key_id": scope.api_key_id}


@bp.get("/logs/")
@endpoint(summary="Request log, newest first (format=csv streams every matching row)",
          tags=TAGS, query=LogsQuery, response=LogPage, errors=(404,),
          media={"text/csv": {"type": "string"}})
def logs(query: LogsQuery) -> LogPage | Response:
    scope = _scope(query)
    filters = queries.LogFilters(status=query.status, method=query.method, path=query.path,
                                 route=query.route)
    if query.format == "csv":
        body = stream_with_context(queries.iter_logs_csv(scope, filters))
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": 'attachment; filename="request-logs.csv"',
            "Cache-Control": "no-store"})
    page = queries.list_logs(scope, filters, limit=query.limit, cursor=query.cursor)
    return LogPage(items=[LogOut(**queries.log_dict(r)) for r in page.items],
                   next_cursor=page.next_cursor)


@bp.get("/usage/")
@endpoint(summary="Requests, errors, 429s and p50/p95 latency per hour or day",
          tags=TAGS, query=UsageQuery, response=UsageOut, errors=(404,),
          read_in_transaction=True)  # rows streamed by a server-side cursor
def usage(query: UsageQuery) -> UsageOut:
    scope = _scope(query, USAGE_DEFAULT_SPAN[query.interval])
    return UsageOut(**queries.usage(scope, query.interval), **_echo(scope))


@bp.get("/endpoints/")
@endpoint(summary="Per route template: count, error rate, p50/p95 latency, share",
          tags=TAGS, query=AnalyticsQuery, response=EndpointsOut, errors=(404,),
          read_in_transaction=True)  # rows streamed by a server-side cursor
def endpoints(query: AnalyticsQuery) -> EndpointsOut:
    scope = _scope(query, timedelta(days=queries.DEFAULT_ENDPOINTS_DAYS))
    return EndpointsOut(**queries.endpoints(scope), **_echo(scope))


@bp.get("/rate-limits/")
@endpoint(summary="Throttling events, newest first, with totals per key",
          tags=TAGS, query=PagedQuery, response=RateLimitsOut, errors=(404,))
def rate_limits(query: PagedQuery) -> RateLimitsOut:
    scope = _scope(query)
    page = queries.list_rate_limit_events(scope, limit=query.limit, cursor=query.cursor)
    per_key = queries.rate_limit_totals(scope)
    return RateLimitsOut(
        items=[RateLimitEventOut(**queries.rate_limit_event_dict(e)) for e in page.items],
        next_cursor=page.next_cursor, total=sum(k["count"] for k in per_key), per_key=per_key)


@bp.get("/feedback/")
@endpoint(summary="Ratings: count, mean, distribution, per assistant and version, "
          "low-rated sources, knowledge gaps", tags=TAGS, query=AnalyticsQuery,
          response=FeedbackOut, errors=(404,),
          read_in_transaction=True)  # rows streamed by a server-side cursor
def feedback(query: AnalyticsQuery) -> FeedbackOut:
    scope = _scope(query)
    return FeedbackOut(**feedback_insights(scope), organization_id=scope.org_id,
                       since=scope.since, until=scope.until)


@bp.get("/conversations/")
@endpoint(summary="Conversations, messages, end users, \"I don't know\" rate and ratings "
          "per hour or day and per assistant version", tags=TAGS, query=UsageQuery,
          response=ConversationsOut, errors=(404,))
def conversations(query: UsageQuery) -> ConversationsOut:
    scope = _scope(query, USAGE_DEFAULT_SPAN[query.interval])
    return ConversationsOut(**conversation_metrics(scope, query.interval),
                            organization_id=scope.org_id)
