"""API keys: list, create (the secret is shown once, on the response itself), revoke."""
from __future__ import annotations

import secrets

from flask import Blueprint, Response, make_response, render_template, request, session
from flask_login import current_user

from console.access import current_org, redirect_with_toast, require_login, requires_write
from errors import ValidationFailed
from services import keys as svc

bp = require_login(Blueprint("console_keys", __name__, url_prefix="/console/keys"))

MINTED = "console_keys_minted"  # session: form token → key id, the last few forms only
MINTED_KEPT = 8


def _form_values(name: str = "") -> dict[str, str]:
    """Each rendering of the form gets its own token, so a reload of the page that
    answered the POST (the browser re-sends it) is recognised instead of minting twice."""
    return {"name": name, "form_token": secrets.token_urlsafe(16)}


@bp.get("/")
def index() -> str:
    return render_template("keys/list.html", keys=svc.list_keys(current_org()), errors={},
                           values=_form_values())


@bp.post("/")
@requires_write
def create() -> Response | tuple[str, int]:
    org = current_org()
    name = request.form.get("name", "")
    token = request.form.get("form_token", "")
    minted_before = session.get(MINTED, {})
    if token and token in minted_before:
        return redirect_with_toast(
            "console_keys.index", f"Key “{name}” was already created from this form and its "
            "secret was shown once. Lost it? Revoke the key and create a new one.", "warning")
    try:
        minted = svc.create_key(org, name=name, created_by_user_id=current_user.id)
    except ValidationFailed as exc:
        return render_template("keys/list.html", keys=svc.list_keys(org), errors=exc.fields,
                               values=_form_values(name)), 422
    if token:
        kept = list(minted_before.items())[-(MINTED_KEPT - 1):]
        session[MINTED] = {**dict(kept), token: minted.key.id}
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
