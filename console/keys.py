"""API keys: list, create (the secret is shown once, on the response itself), revoke."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, make_response, render_template, request
from flask_login import current_user

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
from models.types import utcnow
from services import keys as svc

bp = require_login(Blueprint("console_keys", __name__, url_prefix="/console/keys"))


def _form_values(form: Any = None) -> dict[str, Any]:
    values: dict[str, Any] = {"form_token": new_form_token()}
    if form is not None:
        values.update(name=form.get("name", ""), scopes=form.getlist("scopes"),
                      expires_at=form.get("expires_at", ""),
                      rate_limit_per_hour=form.get("rate_limit_per_hour", ""))
    return values


def _page(org: Any, values: dict[str, Any], errors: dict[str, list[str]]) -> str:
    return render_template("keys/list.html", keys=svc.list_keys(org), errors=errors,
                           values=values, scopes=svc.SCOPES, default_scopes=svc.DEFAULT_SCOPES,
                           now=utcnow())


def _settings(form: Any) -> dict[str, Any]:
    """The form's scopes, expiry date and limit as create_key takes them."""
    errors: dict[str, list[str]] = {}
    expires_at = per_hour = None
    if form.get("expires_at"):
        try:
            expires_at = datetime.combine(date.fromisoformat(form["expires_at"]),
                                          datetime.min.time(), tzinfo=UTC)
        except ValueError:
            errors["expires_at"] = ["Choose a date."]
    if form.get("rate_limit_per_hour"):
        try:
            per_hour = int(form["rate_limit_per_hour"])
        except ValueError:
            errors["rate_limit_per_hour"] = ["A whole number of requests."]
    if errors:
        raise ValidationFailed(errors)
    # The form marks that it showed the boxes: none ticked is then a choice to refuse,
    # while a post without them (a script) gets the default scopes.
    scopes = form.getlist("scopes") if form.get("scopes_shown") else None
    return {"scopes": scopes, "expires_at": expires_at, "rate_limit_per_hour": per_hour}


@bp.get("/")
def index() -> str:
    return _page(current_org(), _form_values(), {})


@bp.post("/")
@requires_write
def create() -> Response | tuple[str, int]:
    org = current_org()
    name = request.form.get("name", "")
    token = request.form.get("form_token", "")
    if made_from_form("key", token):
        return redirect_with_toast(
            "console_keys.index", f"Key “{name}” was already created from this form and its "
            "secret was shown once. Lost it? Revoke the key and create a new one.", "warning")
    try:
        minted = svc.create_key(org, name=name, created_by_user_id=current_user.id,
                                **_settings(request.form))
    except ValidationFailed as exc:
        return _page(org, _form_values(request.form), exc.fields), 422
    remember_form("key", token, minted.key.id)
    # Rendered, not redirected: the secret never goes into the session or a later page.
    resp = make_response(render_template("keys/created.html", key=minted.key,
                                         secret=minted.secret))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/<key_id>/revoke")
@requires_write
def revoke(key_id: str) -> Response:
    key = svc.revoke_key(current_org(), key_id)
    return redirect_with_toast("console_keys.index",
                               f"Key “{key.name}” ({key.prefix}…) is revoked; calls with it "
                               "now get 401.")
