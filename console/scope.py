"""An assistant's knowledge scope: all sources (minus exclusions) or only linked ones."""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from pydantic import ValidationError

from api.endpoint import pydantic_fields
from api.schemas.assistants import KnowledgeScope
from console.access import current_org, redirect_with_toast, require_login, requires_write
from errors import ValidationFailed
from services import assistants as svc
from services.knowledge.scope import set_scope
from services.overview import SourceOption, knowledge_sources

bp = require_login(Blueprint("console_scope", __name__, url_prefix="/console/assistants"))


@bp.route("/<assistant_id>/knowledge", methods=["GET", "POST"])
def edit(assistant_id: str) -> Response | str | tuple[str, int]:
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    sources = knowledge_sources(org)
    if request.method == "POST":
        return _save(assistant_id, sources)
    values = {"mode": assistant.knowledge_mode, "linked": assistant.knowledge_linked or [],
              "excluded": assistant.knowledge_excluded or []}
    return render_template("assistants/scope.html", assistant=assistant, sources=sources,
                           values=values, errors={})


@requires_write
def _save(assistant_id: str, sources: list[SourceOption]) -> Response | tuple[str, int]:
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    data = {"mode": request.form.get("mode", "all"),
            "linked": request.form.getlist("linked"),
            "excluded": request.form.getlist("excluded")}
    errors: dict[str, list[str]] = {}
    try:
        scope = KnowledgeScope.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_fields(exc)
        scope = None
    if scope is not None and not errors:
        try:
            set_scope(org, assistant_id, mode=scope.mode, linked=scope.linked,
                      excluded=scope.excluded)
        except ValidationFailed as exc:
            errors = exc.fields
    if errors:
        return render_template("assistants/scope.html", assistant=assistant, sources=sources,
                               values=data, errors=errors), 422
    summary = ("every ready source" if scope.mode == "all" else
               f"{len(scope.linked)} linked source(s)")
    return redirect_with_toast("console_assistants.detail",
                               f"Knowledge scope saved: {summary}.", assistant_id=assistant_id)
