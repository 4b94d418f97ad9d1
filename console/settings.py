"""Organization settings: the limits and languages in force (changed with the CLI) and
the retention policy with its last run, which owners and admins change here."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from console.access import current_org, redirect_with_toast, require_login, requires_write
from errors import ValidationFailed
from services import retention as svc

bp = require_login(Blueprint("console_settings", __name__, url_prefix="/console/settings"))
KIND_LABELS = {"request_logs": "Raw API request logs",
               "conversations": "Conversations, their messages and feedback",
               "rate_limit_events": "Rate-limit events"}


def _page(values: dict[str, Any], errors: dict[str, list[str]]) -> str:
    org = current_org()
    return render_template("settings/index.html", org=org, values=values, errors=errors,
                           kinds=KIND_LABELS, last=org.retention_last_result or {},
                           max_days=svc.MAX_DAYS)


@bp.get("/")
def index() -> str:
    days = svc.policy(current_org())
    return _page({k: "" if v is None else str(v) for k, v in days.items()}, {})


@bp.post("/retention")
@requires_write
def retention() -> Response | tuple[str, int]:
    values = {kind: (request.form.get(kind) or "").strip() for kind in KIND_LABELS}
    changes: dict[str, int | None] = {}
    errors: dict[str, list[str]] = {}
    for kind, raw in values.items():
        if not raw:
            changes[kind] = None
        elif raw.isdigit():
            changes[kind] = int(raw)
        else:
            errors[kind] = ["A whole number of days, or empty to keep."]
    try:
        if errors:
            raise ValidationFailed(errors)
        svc.set_policy(current_org(), changes)
    except ValidationFailed as exc:
        return _page(values, exc.fields), 422
    return redirect_with_toast("console_settings.index", "Retention saved: it applies at the "
                               "next run.")
