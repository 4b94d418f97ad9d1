"""Shapes shared by every resource: errors, pages, list queries, timestamps."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      PlainSerializer, TypeAdapter)

from models.types import to_utc
from services.analytics.scope import bounded_utc
from services.sessions import MAX_ATTRIBUTE_KEYS, MAX_KEY_LENGTH, MAX_NESTED_ITEMS

T = TypeVar("T")

_DATETIME_JSON = TypeAdapter(datetime).serializer


def timestamp_text(value: datetime) -> str:
    """ISO 8601 in UTC with a trailing Z, the same text as models.types.isoformat (naive
    values are UTC; microseconds only when non-zero), formatted by pydantic-core:
    CPython's datetime.isoformat costs ~16,000 instructions a call, and a page of five
    assistants formats ten timestamps (issue 15)."""
    return _DATETIME_JSON.to_python(to_utc(value), mode="json")


# ISO 8601 UTC with Z on output (SPEC §1).
Timestamp = Annotated[datetime, PlainSerializer(timestamp_text, return_type=str,
                                                when_used="json")]

_NUMERIC = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")


def _iso_8601_only(value: Any) -> Any:
    """pydantic would read `0` or `1.5e9` as Unix time; the contract is ISO 8601 only."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMERIC.match(value)):
        raise ValueError("Use an ISO 8601 date-time such as 2026-01-31T09:00:00Z.")
    return value


# Input filters (since/until): ISO 8601 text, never a bare number; in UTC, within bounds.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only), AfterValidator(bounded_utc)]


_SCALAR = {"type": ["string", "number", "boolean", "null"]}


def _container(items: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "array", "maxItems": MAX_NESTED_ITEMS, "items": items},
            {"type": "object", "maxProperties": MAX_NESTED_ITEMS,
             "propertyNames": {"maxLength": MAX_KEY_LENGTH}, "additionalProperties": items}]


# A value: a scalar, or a list/object of up to MAX_NESTING_DEPTH (2) levels.
_ATTRIBUTE_VALUE = {"anyOf": [_SCALAR, *_container({"anyOf": [_SCALAR, *_container(_SCALAR)]})]}


def attribute_map(description: str, *, required: bool = False) -> Any:
    """A free-form attribute map (context, metadata) with its documented caps, so clients
    and the fuzzing suite see the rule services.sessions.check_attributes applies (the
    16 KB size cap is in the description)."""
    return Field(... if required else None, description=description, json_schema_extra={
        "propertyNames": {"minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "maxProperties": MAX_ATTRIBUTE_KEYS, "additionalProperties": _ATTRIBUTE_VALUE})


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
