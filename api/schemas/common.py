"""Shapes shared by every resource: errors, pages, list queries, timestamps."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      PlainSerializer)

from models.types import isoformat
from services.analytics.scope import bounded_utc

T = TypeVar("T")

# ISO 8601 UTC with Z on output (SPEC §1).
Timestamp = Annotated[datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]

_NUMERIC = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")


def _iso_8601_only(value: Any) -> Any:
    """pydantic would read `0` or `1.5e9` as Unix time; the contract is ISO 8601 only."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMERIC.match(value)):
        raise ValueError("Use an ISO 8601 date-time such as 2026-01-31T09:00:00Z.")
    return value


# Input filters (since/until): ISO 8601 text, never a bare number; in UTC, within bounds.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only), AfterValidator(bounded_utc)]


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is a 422, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    error: ErrorBody


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ListQuery(Strict):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=500)


class JobRef(BaseModel):
    job_id: str


class HealthOut(BaseModel):
    """`GET /healthz`: every check has `ok`; database and Redis add their timings and the
    job backlog, `request_log` this process's queued, dropped and failed-flush counts."""

    status: str
    jobs_mode: str
    checks: dict[str, dict[str, Any]]
