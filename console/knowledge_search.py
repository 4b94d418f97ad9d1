"""The search tester: a query (optionally as one assistant sees the library) → ranked
hits with score, source and provenance, from the very retrieval the assistants and
`POST /api/v1/knowledge/search` use. Read-only, so viewers may use it too.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from pydantic import ValidationError

from api.endpoint import pydantic_fields
from api.schemas.knowledge import SearchRequest
from console.access import current_org, require_login
from extensions import htmx
from services import assistants as assistant_svc
from services.knowledge import retrieval

bp = require_login(Blueprint("search", __name__, url_prefix="/search"))


@bp.get("/")
def index() -> str | tuple[str, int]:
    """The tester page; a submitted query over HTMX gets only the results panel."""
    org = current_org()
    values = {"query": request.args.get("query", ""),
              "assistant_id": request.args.get("assistant_id", ""),
              "top_k": request.args.get("top_k", "5")}
    hits, errors, assistant, searched = [], {}, None, bool(values["query"].strip())
    if searched:
        try:
            body = SearchRequest.model_validate({
                "query": values["query"], "assistant_id": values["assistant_id"] or None,
                "top_k": values["top_k"] or 5})
        except ValidationError as exc:
            errors = pydantic_fields(exc)
        else:
            # An unknown or foreign assistant is the same 404 as through the API.
            assistant = (assistant_svc.get_assistant(org, body.assistant_id)
                         if body.assistant_id else None)
            hits = retrieval.search(org, body.query, assistant=assistant, top_k=body.top_k)
    template = "knowledge/_search_results.html" if htmx else "knowledge/search.html"
    assistants = [] if htmx else assistant_svc.list_assistants(org, limit=100,
                                                               cursor=None).items
    html = render_template(template, values=values, errors=errors, hits=hits,
                           assistant=assistant, assistants=assistants, searched=searched)
    return (html, 422) if errors else html
