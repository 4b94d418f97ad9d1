"""OpenAPI 3.1 generated from the URL map and the pydantic models on each endpoint."""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.endpoint import EndpointDoc
from api.scopes import required_scope
from api.schemas.common import ErrorResponse
from services.idempotency import KEY_PATTERN

bp = Blueprint("openapi", __name__)

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")
_ERROR_TEXT = {
    400: "Malformed request (e.g. invalid JSON)", 401: "Missing or invalid API key",
    403: "Not allowed", 404: "Not found (also for another organization's ids)",
    405: "Method not allowed", 409: "Conflict with the current state", 410: "Gone / expired",
    413: "Payload too large", 415: "Unsupported media type", 422: "Validation error",
    429: "Rate limited", 502: "The language model failed (`llm_error`; details.cause)",
    503: "Backing service unavailable",
}
_PATH_INT = re.compile(r"<int:([a-zA-Z_]+)>")


def _collect(app: Flask) -> list[tuple[str, str, EndpointDoc, list[str], str]]:
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        doc: EndpointDoc | None = getattr(view, "__openapi__", None)
        if doc is None:
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        int_params = _PATH_INT.findall(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method.lower(), doc, int_params, rule.endpoint))
    return found


def build_spec(app: Flask) -> dict[str, Any]:
    entries = _collect(app)
    models: set[type[BaseModel]] = {ErrorResponse}
    for _, _, doc, _, _ in entries:
        alternatives = doc.response if isinstance(doc.response, tuple) else ()
        for m in (doc.body, doc.query, doc.response, doc.body_doc, *alternatives):
            if isinstance(m, type) and issubclass(m, BaseModel):
                models.add(m)
    ordered = sorted(models, key=lambda m: m.__name__)
    keys = [(m, "validation") for m in ordered] + [(m, "serialization") for m in ordered]
    key_map, defs = models_json_schema(keys, ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return key_map[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    for path, method, doc, int_params, endpoint_name in entries:
        op: dict[str, Any] = {
            "summary": doc.summary, "tags": doc.tags,
            "operationId": endpoint_name.replace(".", "_") + "_" + method,
            "responses": {},
        }
        params = []
        for name in re.findall(r"{([a-zA-Z_]+)}", path):
            schema = {"type": "integer"} if name in int_params else {"type": "string"}
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
        if doc.query is not None:
            qschema = ref(doc.query, "validation")
            target = schemas.get(qschema["$ref"].rsplit("/", 1)[-1], {})
            required = set(target.get("required", []))
            for name, prop in target.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required,
                               "schema": prop})
        if method == "post" and doc.auth:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string",
                                      "pattern": f"^{KEY_PATTERN.pattern}$"},
                           "description": "Retry safely: the same key and body within 24 h "
                           "return the first answer (Idempotent-Replayed: true); another "
                           "body 422 idempotency_key_reused; while the first still runs 409 "
                           "idempotency_key_in_use. Not kept for 5xx or streamed answers."})
        if params:
            op["parameters"] = params
        body_model = doc.body if doc.body is not None else doc.body_doc
        if body_model is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": ref(body_model, "validation")}}}
        elif doc.multipart is not None:
            op["requestBody"] = {"required": True, "content": {
                "multipart/form-data": {"schema": doc.multipart}}}
        if doc.response is None:
            op["responses"][str(doc.status)] = {"description": "No content"} if doc.status == 204 \
                else {"description": "OK"}
        elif isinstance(doc.response, tuple):  # one of several models
            op["responses"][str(doc.status)] = {
                "description": "OK", "content": {"application/json": {"schema": {
                    "oneOf": [ref(m, "serialization") for m in doc.response]}}}}
        elif isinstance(doc.response, dict):
            op["responses"][str(doc.status)] = {
                "description": "OK", "content": {"application/json": {"schema": doc.response}}}
        else:
            op["responses"][str(doc.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": ref(doc.response, "serialization")}},
            }
        if doc.media:
            ok = op["responses"][str(doc.status)]
            ok.setdefault("content", {}).update(
                {mt: {"schema": schema} for mt, schema in doc.media.items()})
        for also in doc.also:
            op["responses"][str(also)] = op["responses"][str(doc.status)]
        err_ref = ref(ErrorResponse, "serialization")
        statuses = set(doc.errors) | {400, 405, 413, 415, 422, 503}
        if doc.auth:
            statuses |= {401, 429}
            if required_scope(endpoint_name, method):
                statuses.add(403)  # insufficient_scope
        if "{" in path:
            statuses.add(404)
        for status in sorted(statuses):
            op["responses"][str(status)] = {
                "description": _ERROR_TEXT.get(status, "Error"),
                "content": {"application/json": {"schema": err_ref}},
            }
        if doc.auth:
            op["security"] = [{"ApiKey": []}]
            scope = required_scope(endpoint_name, method)
            if scope:
                op["x-required-scope"] = scope
                op["description"] = f"Needs a key with the `{scope}` scope."
        paths.setdefault(path, {})[method] = op

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Companin API", "version": "1.0.0",
            "description": "Keyed JSON API for assistants, knowledge, sessions, "
            "conversations, feedback and analytics. Every call needs `X-API-Key`.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}},
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi_json():  # noqa: ANN201
    spec = current_app.extensions.get("companin_openapi")
    if spec is None:
        spec = current_app.extensions["companin_openapi"] = build_spec(current_app)
    return jsonify(spec)


_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Companin API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/console/app.css"></head>
<body class="docs"><main class="docs-main"><h1>Companin API</h1>
<p>Machine-readable contract: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.
Every call sends <code>X-API-Key</code>.</p><div id="ops">Loading…</div></main>
<script>
fetch('/api/v1/openapi.json').then(r => r.json()).then(spec => {
  const out = [];
  const byTag = {};
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags || ['Other'])[0];
      (byTag[tag] = byTag[tag] || []).push({path, method, op});
    }
  }
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  for (const [tag, ops] of Object.entries(byTag)) {
    out.push('<section><h2>' + esc(tag) + '</h2>');
    for (const {path, method, op} of ops) {
      const codes = Object.keys(op.responses).join(', ');
      const body = op.requestBody ? Object.values(op.requestBody.content)[0].schema : null;
      out.push('<details class="op"><summary><span class="method m-' + method + '">' +
        method.toUpperCase() + '</span> <code>' + esc(path) + '</code> — ' +
        esc(op.summary || '') + '</summary>' +
        (op.parameters ? '<p><b>Parameters:</b> ' + op.parameters.map(p =>
          '<code>' + esc(p.name) + '</code> (' + p.in + ')').join(', ') + '</p>' : '') +
        (body ? '<p><b>Body:</b> <code>' + esc(body.$ref || JSON.stringify(body)) +
          '</code></p>' : '') +
        '<p><b>Responses:</b> ' + esc(codes) + '</p></details>');
    }
    out.push('</section>');
  }
  out.push('<section><h2>Schemas</h2><pre>' +
    esc(JSON.stringify(spec.components.schemas, null, 2)) + '</pre></section>');
  document.getElementById('ops').innerHTML = out.join('');
});
</script></body></html>"""


@bp.get("/api/docs")
def docs():  # noqa: ANN201
    return _DOCS_HTML, 200, {"Content-Type": "text/html; charset=utf-8"}
