"""Sign-in and sign-out. Sign-in is throttled per client address (LOGIN_RATE_LIMIT) and
per account, with exponential back-off (services.login_throttle)."""
from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from werkzeug.exceptions import TooManyRequests

from console.access import ORG_SESSION_KEY, VERSION_SESSION_KEY, safe_next
from console.errors import render_error
from extensions import limiter
from services import login_throttle
from services.users import authenticate, end_sessions

log = logging.getLogger("companin.console.auth")
bp = Blueprint("console_auth", __name__, url_prefix="/console")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, key_func=get_remote_address, methods=["POST"])
def login() -> Response | str | tuple[str, int]:
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(next_url or url_for("console_dashboard.index"))
    if request.method == "GET":
        return render_template("login.html", next_url=next_url, email="")
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    wait = login_throttle.wait_seconds(email)
    if wait:  # refused before the password is even checked: guessing gains nothing
        return _locked(email, next_url, wait)
    user = authenticate(email, password) if email and password else None
    if user is None:
        wait = login_throttle.failed(email)
        if wait:
            return _locked(email, next_url, wait)
        return render_template("login.html", next_url=next_url, email=email,
                               error="Email or password is incorrect."), 401
    login_throttle.succeeded(email)
    # A fresh session on sign-in: nothing from before (fixation) carries over.
    session.clear()
    session.permanent = True  # expires after CONSOLE_SESSION_IDLE_HOURS without a request
    login_user(user)
    session[ORG_SESSION_KEY] = user.org_id
    session[VERSION_SESSION_KEY] = user.session_version
    flash(f"Welcome back{', ' + user.name if user.name else ''}.", "success")
    return redirect(next_url or url_for("console_dashboard.index"))


def _locked(email: str, next_url: str | None, wait: int) -> tuple[str, int, dict[str, str]]:
    log.warning("sign-in back-off for an account: %d s", wait)
    minutes = f"{wait // 60} min {wait % 60} s" if wait >= 60 else f"{wait} s"
    return render_template(
        "login.html", next_url=next_url, email=email,
        error=f"Too many failed sign-ins for this account. Try again in {minutes}."
    ), 429, {"Retry-After": str(wait)}


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        end_sessions(current_user)
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("console_auth.login"))


@bp.errorhandler(429)
def _too_many_attempts(exc: TooManyRequests) -> Response:
    log.warning("sign-in throttled for %s", request.remote_addr)
    resp = render_error(429, "rate_limited",
                        "Too many sign-in attempts from this address. Wait a minute and try "
                        "again.", {})
    resp.headers["Retry-After"] = "60"
    return resp
