"""Friendly HTML error pages for /console paths.

api/errors.py renders every error in one place and hands /console paths to the callable
registered here, so a service's NotFound or Conflict reads the same through either door:
a full page for navigation, a toast event for an HTMX call.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from flask import Flask, Response, make_response, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import escape

from extensions import htmx, login_manager
from models.types import utcnow

log = logging.getLogger("companin.console")

TITLES = {
    400: "That request did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "That conflicts with the current state",
    410: "No longer available",
    413: "Too large",
    415: "Unsupported content",
    422: "Some fields need attention",
    429: "Slow down",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def render_error(status: int, code: str, message: str, details: dict[str, Any]) -> Response:
    """The `(status, code, message, details) -> Response` api/errors.py delegates to."""
    title = TITLES.get(status, "Error")
    try:
        body = render_template("error.html", status=status, code=code, message=message,
                               title=title, details=details or {})
    except Exception:  # noqa: BLE001 - the page itself must never fail (broken session, ...)
        log.exception("could not render the console error page")
        body = (f"<!doctype html><title>{status}</title><h1>{escape(title)}</h1>"
                f"<p>{escape(message)}</p><p><a href='/console/'>Back to the console</a></p>")
    resp = make_response(body, status)
    if htmx:
        level = "warning" if status < 500 else "error"
        resp.headers["HX-Trigger"] = json.dumps(
            {"toast": {"message": message, "level": level, "code": code}})
        # An error must not be swapped into the page as if it were the fragment asked for.
        resp.headers["HX-Reswap"] = "none"
    return resp


def _csrf_error(exc: CSRFError) -> Response:
    if request.path.startswith("/console"):
        # A signed-out caller (expired session) is answered like any other signed-out
        # caller: sign in first. The request is refused either way.
        if not current_user.is_authenticated and request.endpoint != "console_auth.login":
            return login_manager.unauthorized()
        return render_error(400, "csrf_failed",
                            "This form expired or did not come from this console. Reload "
                            "the page and try again.", {})
    from api.errors import json_error

    return json_error(400, "csrf_failed", exc.description or "CSRF check failed.")


def init_errors(app: Flask) -> None:
    app.extensions["companin_html_errors"] = render_error
    app.register_error_handler(CSRFError, _csrf_error)


def format_when(value: datetime | None, empty: str = "—") -> str:
    """Short UTC timestamps, with a relative hint for recent ones ("3 min ago")."""
    if value is None:
        return empty
    delta = utcnow() - value
    seconds = int(delta.total_seconds())
    stamp = value.strftime("%Y-%m-%d %H:%M UTC")
    if 0 <= seconds < 60:
        return "just now"
    if 0 <= seconds < 3600:
        return f"{seconds // 60} min ago"
    if 0 <= seconds < 86400:
        return f"{seconds // 3600} h ago"
    return stamp
