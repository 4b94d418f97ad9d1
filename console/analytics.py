"""Console analytics: usage, latency, endpoint mix, throttling and ratings as Plotly
charts, each with its data table one click away. Filters (dates, key, interval) re-render
only the charts panel over HTMX; the same URL renders the full page on reload.

Plotly's JavaScript is served from the installed `plotly` package — never a CDN — at
/console/vendor/plotly.min.js with long-lived caching (the URL carries the version).
"""
from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import plotly
from flask import Blueprint, Flask, Response, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from console import records
from console.access import current_org, require_login
from errors import NotFound
from extensions import db, htmx
from models.orgs import ApiKey, Organization
from models.types import utcnow
from services.analytics import queries
from services.analytics.conversation_metrics import conversation_metrics
from services.analytics.feedback_insights import feedback_insights
from services.analytics.scope import EARLIEST, LATEST, Scope

bp = require_login(Blueprint("console_analytics", __name__, url_prefix="/console/analytics"))
DEFAULT_DAYS = 7
MAX_DAYS = 366
HOURLY_UP_TO = timedelta(days=2)
COLORS = {"ok": "#16a34a", "4xx": "#f59e0b", "429": "#7c3aed", "5xx": "#dc2626",
          "p50": "#2563eb", "p95": "#db2777"}


@dataclass
class Filters:
    since: date
    until: date  # inclusive day
    api_key_id: str | None
    interval: str  # "auto" | "hour" | "day"
    error: str | None = None

    @property
    def scope_range(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.since, time.min, tzinfo=UTC)
        end = datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)
        return start, end

    @property
    def resolved_interval(self) -> str:
        if self.interval in ("hour", "day"):
            return self.interval
        start, end = self.scope_range
        return "hour" if end - start <= HOURLY_UP_TO else "day"


def _parse_filters(args: Any, key_ids: set[str]) -> Filters:
    """Bad input falls back to the default range with a message, never a 500."""
    today = utcnow().date()
    default = Filters(since=today - timedelta(days=DEFAULT_DAYS - 1), until=today,
                      api_key_id=None, interval="auto")
    try:
        since = date.fromisoformat(args["since"]) if args.get("since") else default.since
        until = date.fromisoformat(args["until"]) if args.get("until") else default.until
    except ValueError:
        default.error = "Dates must look like 2025-03-10; showing the last 7 days."
        return default
    if not all(EARLIEST.date() <= d < LATEST.date() for d in (since, until)):
        default.error = (f"Pick dates from {EARLIEST.year} to {LATEST.year - 1}; "
                         "showing the last 7 days.")
        return default
    key = args.get("api_key_id") or None
    interval = args.get("interval") if args.get("interval") in ("hour", "day") else "auto"
    if since > until:
        since, until = until, since
    if (until - since).days >= MAX_DAYS:
        default.error = f"Pick at most {MAX_DAYS} days."
        return default
    if interval == "hour" and (until - since).days > 31:
        interval, error = "day", "Hourly buckets cover at most 31 days; showing days."
    else:
        error = None
    return Filters(since=since, until=until, api_key_id=key if key in key_ids else None,
                   interval=interval, error=error)


@bp.get("/")
def index() -> str:
    """The page; an HTMX request (filter change) gets only the charts panel."""
    org, organizations = _viewed_org()
    keys = list(db.session.execute(
        select(ApiKey).where(ApiKey.org_id == org.id).order_by(ApiKey.created_at)).scalars())
    key_names = {k.id: k.name or k.prefix for k in keys}
    filters = _parse_filters(request.args, set(key_names))
    start, end = filters.scope_range
    scope = Scope(org.id, api_key_id=filters.api_key_id, since=start, until=end)
    data = _panel_data(scope, filters.resolved_interval, key_names)
    template = "analytics/_panel.html" if htmx else "analytics/index.html"
    names = {aid: a.name for aid, a in records.assistant_names(org).items()}
    return render_template(template, filters=filters, keys=keys, key_names=key_names,
                           plotly_src=url_for("console_vendor_plotly", v=plotly.__version__),
                           viewed_org=org, organizations=organizations, ratings_names=names,
                           today=utcnow().date(), timedelta=timedelta, **data)


def _viewed_org() -> tuple[Organization, list[Organization] | None]:
    """The operator's organization; a platform administrator may pick any other one
    (`organization_id`), anyone else naming another organization gets a 404."""
    own = current_org()
    wanted = request.args.get("organization_id") or own.id
    if not getattr(current_user, "is_platform_admin", False):
        if wanted != own.id:
            raise NotFound("Organization not found.")
        return own, None
    organizations = list(db.session.execute(
        select(Organization).order_by(Organization.name, Organization.id)).scalars())
    viewed = next((o for o in organizations if o.id == wanted), None)
    if viewed is None:
        raise NotFound("Organization not found.")
    return viewed, organizations


def _panel_data(scope: Scope, interval: str, key_names: dict[str, str]) -> dict[str, Any]:
    usage = queries.usage(scope, interval)
    ends = queries.endpoints(scope)
    events = queries.list_rate_limit_events(scope, limit=100, cursor=None).items
    ratings = feedback_insights(scope)
    talks = conversation_metrics(scope, interval)  # conversations carry no API key
    return {
        "usage": usage, "endpoints": ends, "events": events, "ratings": ratings,
        "talks": talks,
        "per_key": queries.rate_limit_totals(scope),
        "figures": {
            "requests": _requests_figure(usage), "latency": _latency_figure(usage),
            "endpoints": _endpoints_figure(ends), "events": _events_figure(events, key_names),
            "ratings": _ratings_figure(ratings), "versions": _versions_figure(ratings),
            "conversations": _conversations_figure(talks), "quality": _quality_figure(talks),
        },
    }


def _layout(**extra: Any) -> dict[str, Any]:
    return {"margin": {"l": 48, "r": 16, "t": 8, "b": 40}, "height": 300,
            "legend": {"orientation": "h", "y": -0.2}, "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)", **extra}


def _x(usage: dict[str, Any]) -> list[str]:
    return [b["start"].isoformat() for b in usage["buckets"]]


def _requests_figure(usage: dict[str, Any]) -> dict[str, Any]:
    """Stacked by status class; 429s are split out of the other 4xx."""
    b = usage["buckets"]
    series = {
        "2xx/3xx": [x["requests"] - x["errors_4xx"] - x["errors_5xx"] for x in b],
        "4xx": [x["errors_4xx"] - x["rate_limited"] for x in b],
        "429": [x["rate_limited"] for x in b],
        "5xx": [x["errors_5xx"] for x in b],
    }
    colors = [COLORS["ok"], COLORS["4xx"], COLORS["429"], COLORS["5xx"]]
    return {"data": [{"type": "bar", "name": name, "x": _x(usage), "y": ys,
                      "marker": {"color": c}}
                     for (name, ys), c in zip(series.items(), colors, strict=True)],
            "layout": _layout(barmode="stack", yaxis={"title": "requests"})}


def _latency_figure(usage: dict[str, Any]) -> dict[str, Any]:
    return {"data": [{"type": "scatter", "mode": "lines+markers", "name": name,
                      "x": _x(usage), "y": [x[f"{name}_ms"] for x in usage["buckets"]],
                      "line": {"color": COLORS[name]}, "connectgaps": False}
                     for name in ("p50", "p95")],
            "layout": _layout(yaxis={"title": "ms", "rangemode": "tozero"})}


def _endpoints_figure(ends: dict[str, Any]) -> dict[str, Any]:
    top = list(reversed(ends["items"][:15]))
    return {"data": [{"type": "bar", "orientation": "h", "name": "requests",
                      "y": [f"{i['method']} {i['route']}" for i in top],
                      "x": [i["requests"] for i in top], "marker": {"color": COLORS["p50"]},
                      "text": [f"{i['error_rate']:.0%} errors" for i in top]}],
            "layout": _layout(margin={"l": 260, "r": 16, "t": 8, "b": 40},
                              height=max(200, 40 + 28 * len(top)))}


def _events_figure(events: list[Any], key_names: dict[str, str]) -> dict[str, Any]:
    return {"data": [{"type": "scatter", "mode": "markers", "name": "429",
                      "x": [e.created_at.isoformat() for e in events],
                      "y": [key_names.get(e.api_key_id or "", e.api_key_id or "—")
                            for e in events],
                      "text": [f"{e.method} {e.path} from {e.client_ip or '?'}"
                               for e in events],
                      "marker": {"color": COLORS["429"], "size": 10}}],
            "layout": _layout(height=220, yaxis={"type": "category"})}


def _conversations_figure(talks: dict[str, Any]) -> dict[str, Any]:
    x = [b["start"].isoformat() for b in talks["buckets"]]
    return {"data": [
        {"type": "bar", "name": "conversations", "x": x,
         "y": [b["conversations"] for b in talks["buckets"]], "marker": {"color": COLORS["p50"]}},
        {"type": "scatter", "mode": "lines+markers", "name": "end users", "x": x,
         "y": [b["end_users"] for b in talks["buckets"]], "line": {"color": COLORS["ok"]}}],
        "layout": _layout(yaxis={"title": "count", "rangemode": "tozero"})}


def _quality_figure(talks: dict[str, Any]) -> dict[str, Any]:
    """The "I don't know" share and the mean rating per bucket (null where none)."""
    x = [b["start"].isoformat() for b in talks["buckets"]]
    return {"data": [
        {"type": "scatter", "mode": "lines+markers", "name": "“I don't know” rate", "x": x,
         "y": [b["no_answer_rate"] for b in talks["buckets"]], "connectgaps": False,
         "line": {"color": COLORS["429"]}},
        {"type": "scatter", "mode": "lines+markers", "name": "mean rating", "x": x,
         "y": [b["mean_rating"] for b in talks["buckets"]], "yaxis": "y2",
         "connectgaps": False, "line": {"color": COLORS["ok"]}}],
        "layout": _layout(yaxis={"title": "share", "range": [0, 1], "tickformat": ".0%"},
                          yaxis2={"title": "rating", "range": [0, 5], "overlaying": "y",
                                  "side": "right"})}


def _ratings_figure(ratings: dict[str, Any]) -> dict[str, Any]:
    dist = ratings["distribution"]
    return {"data": [{"type": "bar", "name": "ratings", "x": list(dist),
                      "y": list(dist.values()), "marker": {"color": COLORS["p50"]}}],
            "layout": _layout(height=240, xaxis={"title": "rating", "type": "category"})}


def _versions_figure(ratings: dict[str, Any]) -> dict[str, Any]:
    names = {a["assistant_id"]: a["name"] or a["assistant_id"] for a in ratings["per_assistant"]}
    rows = ratings["per_version"]
    return {"data": [{"type": "bar", "name": "mean rating",
                      "x": [f"{names.get(v['assistant_id'], v['assistant_id'])} "
                            f"v{v['assistant_version']}" for v in rows],
                      "y": [v["mean"] for v in rows],
                      "text": [f"{v['count']} ratings" for v in rows],
                      "marker": {"color": COLORS["ok"]}}],
            "layout": _layout(height=240, yaxis={"range": [0, 5], "title": "mean"})}


@lru_cache(maxsize=1)
def _plotly_js() -> tuple[bytes, str]:
    """The bundled plotly.min.js of the installed package, read once per process."""
    data = (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:32]


def plotly_js() -> Response:
    data, etag = _plotly_js()
    resp = Response(data, mimetype="text/javascript")
    resp.set_etag(etag)
    # The page links it with ?v=<plotly version>, so the URL changes when the file does.
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return resp.make_conditional(request)


def _register_vendor_route(app: Flask) -> None:
    if "console_vendor_plotly" not in app.view_functions:
        app.add_url_rule("/console/vendor/plotly.min.js", endpoint="console_vendor_plotly",
                         view_func=plotly_js, methods=["GET"])


bp.record_once(lambda state: _register_vendor_route(state.app))
