"""Every error a client sees is rendered here, in SPEC §1's shape.

Console pages register an HTML renderer (console/errors.py); everything else is JSON.
"""
from __future__ import annotations

import logging
from typing import Any
from collections.abc import Callable

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, TooManyRequests

from errors import AppError, ServiceUnavailable


class LimitExceeded(TooManyRequests):
    """A 429 of our own limits (a key's own budget, an address without a key); the 429
    handler reads `limit_text` as it reads Flask-Limiter's limit."""

    def __init__(self, limit_text: str) -> None:
        super().__init__()
        self.limit_text = limit_text

log = logging.getLogger("companin.errors")

_HTTP_CODES = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "The requested resource does not exist."),
    405: ("method_not_allowed", "This method is not allowed on this resource."),
    409: ("conflict", "The request conflicts with the current state."),
    413: ("file_too_large", "The request body exceeds the configured size limit."),
    415: ("unsupported_media_type", "This type of content is not supported."),
    422: ("validation_error", "The request has invalid fields."),
    429: ("rate_limited", "Rate limit exceeded."),
}

HtmlRenderer = Callable[[int, str, str, dict[str, Any]], Response]


def json_error(status: int, code: str, message: str, details: dict | None = None,
               headers: dict[str, str] | None = None) -> Response:
    resp = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _render(status: int, code: str, message: str, details: dict | None = None,
            headers: dict[str, str] | None = None) -> Response:
    html: HtmlRenderer | None = current_app.extensions.get("companin_html_errors")
    if html is not None and request.path.startswith("/console"):
        resp = html(status, code, message, details or {})
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp
    return json_error(status, code, message, details, headers)


def handle_app_error(exc: AppError) -> Response:
    return _render(exc.status, exc.code, exc.message, exc.details, exc.headers)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code, default_message = _HTTP_CODES.get(status, ("http_error", exc.name))
    message = default_message
    headers: dict[str, str] = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"The request body exceeds the limit of {limit} bytes."
    return _render(status, code, message, {}, headers)


def handle_unexpected(exc: Exception) -> Response:
    """Never leak a traceback; map lost backing services to a retryable 503."""
    if _is_unavailable(exc):
        log.warning("backing service unavailable: %s", type(exc).__name__)
        err = ServiceUnavailable()
        return _render(err.status, err.code, err.message, {}, {"Retry-After": "5"})
    log.exception("unhandled error on %s %s", request.method, request.path)
    try:
        from extensions import db

        db.session.rollback()
    except Exception:  # noqa: BLE001 - the session may itself be broken
        pass
    return _render(500, "internal_error", "Something went wrong on our side; it was logged.")


def _is_unavailable(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover
        RedisConnectionError = RedisTimeoutError = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return True
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return False


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
