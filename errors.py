"""Typed domain errors.

Services raise these; the API renders them as SPEC §1 JSON and the console as HTML, each in
one place, so a rule's failure looks the same whichever door the caller came through.
"""
from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error a caller is meant to see."""

    status: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class InvalidJSON(AppError):
    status = 400
    code = "invalid_json"
    message = "The request body is not valid JSON."


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    message = "Authentication is required."


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    message = "The requested resource does not exist."


class Conflict(AppError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Gone(AppError):
    status = 410
    code = "gone"
    message = "The resource is no longer available."


class PayloadTooLarge(AppError):
    status = 413
    code = "file_too_large"
    message = "The upload exceeds the configured size limit."


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    message = "This type of content is not supported."


class ValidationFailed(AppError):
    """422 with `details.fields = {field: [messages]}`."""

    status = 422
    code = "validation_error"
    message = "The request has invalid fields."

    def __init__(self, fields: dict[str, list[str]], message: str | None = None) -> None:
        super().__init__(message, details={"fields": fields})
        self.fields = fields


class Unprocessable(AppError):
    """422 for well-formed input the domain refuses (unreadable file, disallowed URL)."""

    status = 422
    code = "unprocessable"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    message = "Rate limit exceeded."


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    message = "A backing service is unavailable; try again shortly."
