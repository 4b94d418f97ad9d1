"""Item 2 — schemathesis fuzzing of the whole keyed API, in process, against the OpenAPI
document the app serves: zero 5xx and every response conforms (status code, content type,
headers, body schema), plus: every route of the URL map outside the console is documented.

Bounded so it runs in a few minutes: FUZZ_MAX_EXAMPLES examples per operation (default 15),
positive and negative generation, no deadline. Every built-in check runs except the three
that need a stateful scenario; positive/negative acceptance are refined (see below).
"""
from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS, load_all_checks

from tests.factories import make_tenant

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
# Same examples on every CI run (a regression net); FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("FUZZ_RANDOM") != "1"
# Checks that need a second identity or a stateful scenario to mean anything; the tenant
# matrix (test_tenant_isolation.py) covers object-level authorization with real ids.
STATEFUL_ONLY = {"use_after_free", "ensure_resource_availability", "object_level_authorization"}
# Replaced below by variants that know the rules JSON Schema cannot express, and that
# multipart form fields are text on the wire (a "number" or "array" title is a string).
REPLACED = {"positive_data_acceptance", "negative_data_rejection"}

# 422 on schema-valid input is right only for these documented rules beyond the schema:
SEMANTIC_FIELDS = {
    "cursor",  # opaque: only cursors this API issued decode
    "language",  # BCP 47 tag validity (langcodes)
    "user.email",  # e-mail syntax
    "url",  # http(s) URLs only
    "body", "since", "until",  # since < until (until defaults to now on analytics)
    "interval",  # at most 10000 buckets in the requested range
    "model",  # a model change moves every source: not with source_ids
    "file",  # an uploaded Q&A CSV needs a question,answer header
    "content", "question", "answer",  # not blank once Unicode whitespace is trimmed
    "expires_at",  # a key's expiry lies in the future
    "rate_limit_per_hour",  # a key's own limit stays within its organization's
    "scopes",  # keys:manage is granted from the console or the CLI only
}
SEMANTIC_CODES = {  # content-level refusals of uploads and URLs (SPEC §4)
    "unreadable_file", "unsupported_file_type", "no_text", "url_not_allowed",
    "url_fetch_failed", "file_too_large",
    "idempotency_key_reused",  # the same Idempotency-Key with another request (SPEC §12)
}

load_all_checks()


@schemathesis.check
def positive_data_accepted_unless_a_documented_rule_refuses_it(ctx, response, case):  # noqa: ANN001,ANN201
    if case.meta is None or case.meta.generation.mode.is_negative:
        return None
    status = response.status_code
    if status < 400 or status in (401, 404, 409, 410, 429):  # a guessed id does not exist
        return True
    error = (response.json() or {}).get("error", {}) if "json" in (
        response.headers.get("content-type") or [""])[0] else {}
    if error.get("code") in SEMANTIC_CODES:
        return True
    fields = (error.get("details") or {}).get("fields") or {}
    rest = {f: m for f, m in fields.items() if f.rsplit(".", 1)[-1] not in SEMANTIC_FIELDS
            and f not in SEMANTIC_FIELDS}
    # NUL bytes are refused in every text field (PostgreSQL cannot store them)
    rest = {f: m for f, m in rest.items() if not all("NUL" in x for x in m)}
    if status == 422 and error.get("code") == "validation_error" and fields and not rest:
        return True
    raise AssertionError(f"schema-valid request refused with {status}: {error}")


@schemathesis.check
def negative_data_rejected_except_multipart_text_fields(ctx, response, case):  # noqa: ANN001,ANN201
    body = case.operation.definition.raw.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in body:
        return None  # every form field arrives as text: type mutations cannot be sent
    return CHECKS.get_one("negative_data_rejection")(ctx, response, case)


ALL_CHECKS = [CHECKS.get_one(n) for n in CHECKS.get_all_names()
              if n not in STATEFUL_ONLY | REPLACED]


def _operation_labels() -> list[str]:
    """Collected from the same app factory, so a new endpoint is fuzzed automatically."""
    from api.openapi import build_spec
    from factory import create_app

    spec = build_spec(create_app({"TESTING": True}))
    return [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops]


@pytest.fixture
def fuzz_tenant(app):
    return make_tenant(app, "Fuzz", rate_limit=1_000_000)


@pytest.fixture
def api_schema(app, fuzz_tenant):
    """The served document, with the tenant's key as the ApiKey scheme's credential (so
    negative cases may still drop or break it and expect a 401)."""
    config = schemathesis.Config.from_dict(
        {"auth": {"openapi": {"ApiKey": {"api_key": fuzz_tenant.secret}}}})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
@pytest.mark.parametrize("label", _operation_labels())
def test_fuzz_every_operation_no_5xx_and_responses_conform(api_schema, label, mode):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    raw = operation.definition.raw
    if (mode is schemathesis.GenerationMode.NEGATIVE and not raw.get("parameters")
            and "requestBody" not in raw and not raw.get("security")):
        pytest.skip(f"{label}: no parameter, body or key to make invalid")
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case) -> None:  # noqa: ANN001
        statuses.append(case.call_and_validate(checks=ALL_CHECKS).status_code)

    fuzz()
    if mode is schemathesis.GenerationMode.POSITIVE:
        # the credential reached the API: schema-valid calls were authenticated
        assert any(s != 401 for s in statuses), (label, statuses)


_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")


def test_every_route_outside_the_console_is_in_the_openapi_document(app, client):
    spec = client.get("/api/v1/openapi.json").json
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("console"):
            continue
        if rule.rule in ("/api/v1/openapi.json", "/api/docs"):
            continue  # the document itself and its HTML viewer
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if (path, method.lower()) not in documented:
                missing.append(f"{method} {rule.rule}")
    assert not missing, missing
