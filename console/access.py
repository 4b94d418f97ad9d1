"""Who is signed in, to which organization, and what they may do.

Sign-in state is the user id plus the organization id in the signed session cookie; the
user is reloaded through the org filter on every request, so a disabled user or a user
moved out of the organization loses access on the next click.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from errors import Forbidden, NotFound
from extensions import db, htmx, login_manager
from models.orgs import Organization, User
from services import audit_trail
from services.db_retry import first_read

F = TypeVar("F", bound=Callable[..., Any])
ORG_SESSION_KEY = "console_org_id"
VERSION_SESSION_KEY = "console_session_version"


def init_login(app: Flask) -> None:
    login_manager.login_view = "console_auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)


def load_user(user_id: str) -> User | None:
    """The signed-in operator, re-read through the org filter; None signs them out."""
    org_id = session.get(ORG_SESSION_KEY)
    if not org_id:
        return None
    try:
        user = first_read(lambda: User.get_for_org(user_id, org_id))
    except NotFound:
        return None
    if user.disabled_at is not None or session.get(VERSION_SESSION_KEY) != user.session_version:
        return None  # disabled, or signed out / re-roled since this cookie was issued
    return user


def unauthorized() -> Response:
    """Answer by channel: pages redirect to sign-in, HTMX calls get 401 + HX-Redirect."""
    target = url_for("console_auth.login", next=_return_path())
    if htmx:
        resp = make_response(render_template("partials/signin_prompt.html", login_url=target),
                             401)
        resp.headers["HX-Redirect"] = target
        return resp
    flash("Sign in to continue.", "info")
    return redirect(target)


def _return_path() -> str | None:
    """Where to come back to after signing in: the page itself for a GET, else the page
    the click came from (an HTMX call or form post URL cannot be re-opened with a GET)."""
    if request.method == "GET" and not htmx:
        return safe_next(request.full_path)
    came_from = request.headers.get("HX-Current-URL") or request.referrer or ""
    parts = urlsplit(came_from)
    if parts.netloc and parts.netloc != request.host:
        return None
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


def safe_next(value: str | None) -> str | None:
    """Only same-site console paths are allowed after sign-in (no open redirect)."""
    if not value:
        return None
    value = value.rstrip("?")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/console") or "\\" in value:
        return None
    return value


def require_login(bp: Blueprint) -> Blueprint:
    """Every view of `bp` needs a signed-in operator; nothing can be forgotten per view."""

    @bp.before_request
    def _signed_in() -> Response | None:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        audit_trail.set_actor("user", current_user.id)
        return None

    return bp


def requires_write(view: F) -> F:
    """Owners and admins change things; a viewer gets 403 whatever the route does."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.can_write:
            raise Forbidden("Your role is viewer: you can look at everything but change "
                            "nothing. Ask an owner or admin.", code="read_only")
        return view(*args, **kwargs)

    wrapper.requires_write = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def current_org() -> Organization:
    """The signed-in operator's organization (cached for the request)."""
    org = g.get("console_org")
    if org is None:
        org = db.session.get(Organization, current_user.org_id)
        if org is None:
            raise NotFound("Organization not found.")
        g.console_org = org
    return org


def current_org_or_none() -> Organization | None:
    """For templates rendered without a signed-in user (sign-in page, error pages)."""
    if not current_user.is_authenticated:
        return None
    try:
        return current_org()
    except Exception:  # noqa: BLE001 - error pages must render even with a broken session
        return None


def toast(response: Response, message: str, level: str = "success") -> Response:
    """A toast for this response: an HX-Trigger event for HTMX, a flash otherwise."""
    if htmx:
        existing = response.headers.get("HX-Trigger")
        events = json.loads(existing) if existing else {}
        events["toast"] = {"message": message, "level": level}
        response.headers["HX-Trigger"] = json.dumps(events)
    else:
        flash(message, level)
    return response


def redirect_with_toast(endpoint: str, message: str, level: str = "success",
                        **values: Any) -> Response:
    """After a non-HTMX form post: flash and redirect (POST → redirect → GET)."""
    flash(message, level)
    return redirect(url_for(endpoint, **values))


# ------------------------------------------------------- forms that show a secret once
FORM_TOKENS_KEPT = 8  # per kind, in the session: the last few forms only


def new_form_token() -> str:
    """Each rendering of a create form gets its own token, so the reload of the page that
    answered its POST (the browser re-sends it) is recognised instead of creating twice."""
    return secrets.token_urlsafe(16)


def made_from_form(kind: str, token: str) -> bool:
    """Whether this form already created its object (and showed its secret)."""
    return bool(token) and token in session.get(f"console_made_{kind}", {})


def remember_form(kind: str, token: str, object_id: str) -> None:
    if not token:
        return
    made = list(session.get(f"console_made_{kind}", {}).items())[-(FORM_TOKENS_KEPT - 1):]
    session[f"console_made_{kind}"] = {**dict(made), token: object_id}
