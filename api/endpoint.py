"""One decorator that validates input, shapes output and documents the route.

The same pydantic models drive request validation, the response body and the OpenAPI
document (api/openapi.py reads `view.__openapi__`), so the contract cannot drift.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from collections.abc import Callable

from flask import Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError

from errors import InvalidJSON, PayloadTooLarge, UnsupportedMediaType, ValidationFailed


@dataclass
class EndpointDoc:
    summary: str
    tags: list[str]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    multipart: dict[str, Any] | None = None
    auth: bool = True
    errors: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def pydantic_fields(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic errors → `{field.path: [messages]}` as SPEC §1 asks."""
    fields: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "body"
        msg = err.get("msg", "Invalid value.")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err.get("type") == "extra_forbidden":
            msg = "Unknown field."
        fields.setdefault(loc, []).append(msg)
    return fields


def read_json() -> Any:
    limit = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes.", code="body_too_large")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes.", code="body_too_large")
    ctype = request.mimetype or ""
    if raw and ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaType("Send the body as application/json.")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc}") from exc


def parse_model(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_fields(exc)) from exc


def parse_query(model: type[BaseModel]) -> BaseModel:
    data = {k: v for k, v in request.args.items()}
    return parse_model(model, data)


def to_response(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        result, status = result
        if isinstance(result, Response):
            result.status_code = status
            return result
    if result is None:
        return Response(status=status)
    if isinstance(result, BaseModel):
        payload = result.model_dump(mode="json")
    else:
        payload = result
    resp = jsonify(payload)
    resp.status_code = status
    return resp


def endpoint(
    *, summary: str, tags: list[str], body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None, response: Any = None, status: int = 200,
    multipart: dict[str, Any] | None = None, auth: bool = True, errors: tuple[int, ...] = (),
) -> Callable:
    """Decorate a view: `body=`/`query=` models are parsed and passed as kwargs."""
    doc = EndpointDoc(summary=summary, tags=tags, body=body, query=query, response=response,
                      status=status, multipart=multipart, auth=auth, errors=errors)

    def decorate(fn: Callable) -> Callable:
        @wraps(fn)
        def view(**kwargs: Any) -> Response:
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_model(body, read_json())
            return to_response(fn(**kwargs), status)

        view.__openapi__ = doc  # type: ignore[attr-defined]
        return view

    return decorate
