"""The audit trail page (SPEC §12): who changed what and when, filtered, with a CSV export
of the same filters. Read-only for every role: nothing here edits or deletes an event."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for

from console import records
from console.access import current_org, require_login
from extensions import htmx
from services import audit_trail as svc
from services import keys as key_svc
from services import users as user_svc

bp = require_login(Blueprint("console_audit", __name__, url_prefix="/console/audit"))
PAGE_SIZE = 50


def _filters() -> tuple[dict[str, Any], dict[str, str], str | None]:
    """(service filters, the form's values, a date message) from the query string."""
    args = request.args
    dates = records.parse_range(args)
    since, until = dates.bounds  # "to" is inclusive of its whole day
    actor_type = args.get("actor_type") if args.get("actor_type") in svc.ACTOR_TYPES else None
    entity_type = (args.get("entity_type") if args.get("entity_type") in svc.ENTITY_TYPES
                   else None)
    filters = {"actor_type": actor_type,
               "actor_id": records.clean_text(args.get("actor_id"), 40),
               "entity_type": entity_type,
               "entity_id": records.clean_text(args.get("entity_id"), 40),
               "action": records.clean_text(args.get("action"), 64),
               "since": since, "until": until}
    form = {**filters, "since": dates.since.isoformat() if dates.since else None,
            "until": dates.until.isoformat() if dates.until else None}
    return filters, {k: v for k, v in form.items() if v}, dates.error


@bp.get("/")
def index() -> str:
    org = current_org()
    filters, form, date_error = _filters()
    page = svc.list_events(org, limit=PAGE_SIZE, cursor=request.args.get("cursor") or None,
                           **filters)
    context = {
        "events": page.items, "filters": form, "date_error": date_error,
        "entity_types": svc.ENTITY_TYPES,
        "users": {u.id: u.email for u in user_svc.list_users(org)},
        "keys": {k.id: k.name or k.prefix for k in key_svc.list_keys(org)},
        "more": url_for(".index", **form, cursor=page.next_cursor) if page.next_cursor
        else None,
        "export": url_for(".export", **form),
        "first_page": not request.args.get("cursor"),
    }
    if htmx:
        return render_template("audit/_rows.html", **context)
    return render_template("audit/list.html", **context)


@bp.get("/export.csv")
def export() -> Response:
    org = current_org()
    filters, _form, _error = _filters()
    return Response(stream_with_context(svc.export_csv(org, **filters)),
                    mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'})
