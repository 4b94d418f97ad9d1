"""Webhooks: endpoints with the events they receive, the signing secret shown once, and
each endpoint's delivery log with redelivery (SPEC §12)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, render_template, request

from console.access import (
    current_org,
    made_from_form,
    new_form_token,
    redirect_with_toast,
    remember_form,
    require_login,
    requires_write,
)
from errors import ValidationFailed
from models.webhooks import EVENT_TYPES
from services import webhooks as svc

bp = require_login(Blueprint("console_webhooks", __name__, url_prefix="/console/webhooks"))
DELIVERIES_SHOWN = 50
EVENT_HELP = {
    "source.ready": "a knowledge source finished processing",
    "source.failed": "a knowledge source could not be processed",
    "feedback.created": "a customer or agent rated a conversation",
    "rate_limit.exceeded": "a call was refused by the hourly limit (at most once a minute)",
    "evaluation.finished": "a test run against a version finished",
    "assistant.version_promoted": "a version went live (promotion or rollback)",
}


def _values(form: Any = None) -> dict[str, Any]:
    values: dict[str, Any] = {"form_token": new_form_token(), "events": list(EVENT_TYPES)}
    if form is not None:
        values.update(url=form.get("url", ""), description=form.get("description", ""),
                      events=form.getlist("events"))
    return values


def _page(values: dict[str, Any], errors: dict[str, list[str]]) -> str:
    return render_template("webhooks/list.html",
                           hooks=svc.list_endpoints(current_org().id, limit=100).items,
                           values=values, errors=errors, event_types=EVENT_TYPES,
                           event_help=EVENT_HELP)


@bp.get("/")
def index() -> str:
    return _page(_values(), {})


@bp.post("/")
@requires_write
def create() -> Response | tuple[str, int]:
    token = request.form.get("form_token", "")
    if made_from_form("webhook", token):
        return redirect_with_toast(
            "console_webhooks.index", "This webhook was already created from this form and "
            "its secret was shown once. Lost it? Delete the webhook and create a new one.",
            "warning")
    try:
        hook, secret = svc.create_endpoint(current_org().id, url=request.form.get("url", ""),
                                           events=request.form.getlist("events"),
                                           description=request.form.get("description", ""))
    except ValidationFailed as exc:
        return _page(_values(request.form), exc.fields), 422
    remember_form("webhook", token, hook.id)
    resp = make_response(render_template("webhooks/created.html", hook=hook, secret=secret))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _detail(webhook_id: str, errors: dict[str, list[str]]) -> str:
    org_id = current_org().id
    hook = svc.get_endpoint(org_id, webhook_id)
    deliveries = svc.list_deliveries(org_id, hook.id, limit=DELIVERIES_SHOWN).items
    return render_template("webhooks/detail.html", hook=hook, deliveries=deliveries,
                           event_types=EVENT_TYPES, event_help=EVENT_HELP, errors=errors)


@bp.get("/<webhook_id>")
def detail(webhook_id: str) -> str:
    return _detail(webhook_id, {})


@bp.post("/<webhook_id>")
@requires_write
def update(webhook_id: str) -> Response | tuple[str, int]:
    form = request.form
    try:
        hook = svc.update_endpoint(current_org().id, webhook_id, {
            "url": form.get("url") or None, "events": form.getlist("events"),
            "description": form.get("description", ""), "is_active": form.get("active") == "on"})
    except ValidationFailed as exc:
        return _detail(webhook_id, exc.fields), 422
    return redirect_with_toast("console_webhooks.detail", "Webhook saved.",
                               webhook_id=hook.id)


@bp.post("/<webhook_id>/delete")
@requires_write
def delete(webhook_id: str) -> Response:
    svc.delete_endpoint(current_org().id, webhook_id)
    return redirect_with_toast("console_webhooks.index",
                               "Webhook deleted: nothing more is sent to it.")


@bp.post("/<webhook_id>/deliveries/<delivery_id>/redeliver")
@requires_write
def redeliver(webhook_id: str, delivery_id: str) -> Response:
    again = svc.redeliver(current_org().id, webhook_id, delivery_id)
    return redirect_with_toast("console_webhooks.detail",
                               f"Event {again.event_id} queued again.", webhook_id=webhook_id)
