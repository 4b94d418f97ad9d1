"""Response headers that keep the console's pages from being framed, sniffed or scripted
from elsewhere (SPEC §12 hardening). Every response gets the simple ones; console pages
also get a Content-Security-Policy that allows scripts from this origin only (the console
has no inline script or handler: see app.js data-autosubmit, boot.js, analytics.js).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

# Styles may be inline: Plotly and htmx set style attributes and <style> elements.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
               "object-src 'none'; base-uri 'self'; form-action 'self'; "
               "frame-ancestors 'none'")


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure when configured so (services mode) and whenever the
    request came over HTTPS (ProxyFix makes that true behind a TLS proxy)."""

    _signing: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Built once per set of keys, not on every request as Flask does: opening the
        session runs for every call, keyed API calls included (issue 15)."""
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        signing = self._signing
        if signing is None or signing[0] != keys:
            signing = self._signing = (keys, super().get_signing_serializer(app))
        return signing[1]

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]
                    or (has_request_context() and request.is_secure))


def init_security_headers(app: Flask) -> None:
    app.after_request(_headers)
    app.session_interface = SessionInterface()


# Set on every response unless the view set its own.
SIMPLE_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                  ("Referrer-Policy", "strict-origin-when-cross-origin"))


def _headers(resp: Response) -> Response:
    # What headers.setdefault does, with one pass over the names: each setdefault of an
    # absent header raised and caught a KeyError (~100,000 instructions for the three).
    headers = resp.headers
    present = {name.lower() for name, _ in headers.items()}
    for name, value in SIMPLE_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if (request._get_current_object().path.startswith("/console")
            and resp.mimetype == "text/html"):
        resp.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
    return resp
