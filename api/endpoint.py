"""One decorator that validates input, shapes output and documents the route.

The same pydantic models drive request validation, the response body and the OpenAPI
document (api/openapi.py reads `view.__openapi__`), so the contract cannot drift.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from collections.abc import Callable

from flask import Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError

from errors import (
    InvalidJSON,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from api.scopes import require_scope
from services.db_retry import first_read


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
    # Documentation only: a JSON body the view parses itself (e.g. one item or a bulk list),
    # other success statuses with the same shape, other media types of the success body.
    body_doc: Any = None
    also: tuple[int, ...] = ()
    media: dict[str, dict[str, Any]] | None = None
    # A GET view that streams rows through a server-side cursor needs a transaction;
    # every other GET view reads in autocommit (services.db_retry).
    read_in_transaction: bool = False


def reads_outside_transaction() -> bool:
    """Whether this request's view is a read that runs in autocommit."""
    req = request._get_current_object()  # one proxy lookup, not one per attribute
    if req.method not in ("GET", "HEAD"):
        return False
    view = current_app._get_current_object().view_functions.get(req.endpoint or "")
    doc = getattr(view, "__openapi__", None)
    return doc is not None and not doc.read_in_transaction


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
        # Strict UTF-8 (RFC 8259): json.loads(bytes) would also take UTF-16/32 and let
        # UTF-8-encoded surrogates through ("surrogatepass"), which no database stores.
        data = json.loads(raw.decode("utf-8-sig"))
    except RecursionError:
        raise InvalidJSON("The request body is not valid JSON: it is nested too deeply.") \
            from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc}") from exc
    return check_json_text(data)


NUL_MESSAGE = "Text cannot contain NUL bytes."
MAX_JSON_DEPTH = 64  # as deep as any real body needs; deeper only costs stack and CPU
_SURROGATES = re.compile("[\ud800-\udfff]")


def check_json_text(data: Any) -> Any:
    """Refuse what no backend can store or a later reader can safely walk: U+0000 anywhere
    (PostgreSQL keeps no NUL in text or JSONB) → 422; unpaired surrogate escapes such as
    "\\ud800" (not Unicode text) → 400; nesting deeper than MAX_JSON_DEPTH → 422.
    Iterative, so a hostile body cannot exhaust the stack here either."""
    nul: dict[str, list[str]] = {}
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValidationFailed(
                {"body": [f"JSON nested more than {MAX_JSON_DEPTH} levels deep."]})
        if isinstance(value, str):
            texts = [(path, value)]
        elif isinstance(value, dict):
            texts = []
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                texts.append((where, key))
                stack.append((where, item, depth + 1))
        elif isinstance(value, list):
            texts = []
            for i, item in enumerate(value):
                stack.append((f"{path}.{i}" if path else str(i), item, depth + 1))
        else:
            continue
        for where, text in texts:
            if _SURROGATES.search(text):
                raise InvalidJSON("The request body is not valid JSON: it contains an "
                                  "unpaired surrogate escape, which is not Unicode text.")
            if "\x00" in text:
                nul[(where or "body").replace("\x00", "\\u0000")] = [NUL_MESSAGE]
    if nul:
        raise ValidationFailed(nul)
    return data


def parse_model(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_fields(exc)) from exc


def parse_query(model: type[BaseModel]) -> BaseModel:
    data = check_json_text({k: v for k, v in request._get_current_object().args.items()})
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
    body_doc: Any = None, also: tuple[int, ...] = (),
    media: dict[str, dict[str, Any]] | None = None, read_in_transaction: bool = False,
) -> Callable:
    """Decorate a view: `body=`/`query=` models are parsed and passed as kwargs."""
    doc = EndpointDoc(summary=summary, tags=tags, body=body, query=query, response=response,
                      status=status, multipart=multipart, auth=auth, errors=errors,
                      body_doc=body_doc, also=also, media=media,
                      read_in_transaction=read_in_transaction)

    def decorate(fn: Callable) -> Callable:
        @wraps(fn)
        def view(**kwargs: Any) -> Response:
            if auth:
                require_scope()
            if any(isinstance(v, str) and "\x00" in v for v in kwargs.values()):
                raise NotFound()  # no id holds a NUL byte; never let one reach a query
            if query is not None:
                kwargs["query"] = parse_query(query)
            if body is not None:
                kwargs["body"] = parse_model(body, read_json())
            # a read may run again on a dead connection
            if request._get_current_object().method in ("GET", "HEAD"):
                return to_response(first_read(lambda: fn(**kwargs),
                                              outside_transaction=not read_in_transaction),
                                   status)
            return to_response(fn(**kwargs), status)

        view.__openapi__ = doc  # type: ignore[attr-defined]
        return view

    return decorate
