"""Assistants: list with the on/off switch, create, edit (→ a new version), delete.

Versions, diffs and promotion live in console/versions.py; the knowledge scope editor in
console/scope.py. Every change goes through services.assistants, as the API's does.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, make_response, render_template, request
from flask_login import current_user

from console.access import (
    current_org,
    redirect_with_toast,
    require_login,
    requires_write,
    toast,
)
from console.assistant_form import parse_create, parse_update, values_of
from errors import ValidationFailed
from extensions import htmx
from services import answering
from services import assistants as svc
from services import evaluations as evaluation_svc
from services import overview
from services import preview as preview_svc
from services.knowledge.scoring import GATE

bp = require_login(Blueprint("console_assistants", __name__, url_prefix="/console/assistants"))
PAGE_SIZE = 50


@bp.get("/")
def index() -> str:
    org = current_org()
    page = svc.list_assistants(org, limit=PAGE_SIZE, cursor=request.args.get("cursor"))
    return render_template("assistants/list.html", assistants=page.items,
                           next_cursor=page.next_cursor)


@bp.route("/new", methods=["GET", "POST"])
@requires_write
def create() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("assistants/form.html", mode="create",
                               values={"language": "en", "is_active": True,
                                       "task_models": "chat: claude-sonnet-4-5"},
                               errors={}, engine=answering.engine_for(current_org()))
    result = parse_create(request.form)
    if result.errors:
        return render_template("assistants/form.html", mode="create", values=result.values,
                               errors=result.errors,
                               engine=answering.engine_for(current_org())), 422
    assistant = svc.create_assistant(current_org(), result.model.model_dump(),
                                     actor=current_user.id)
    return redirect_with_toast("console_assistants.detail",
                               f"Assistant “{assistant.name}” created; version 1 is live.",
                               assistant_id=assistant.id)


@bp.get("/<assistant_id>")
def detail(assistant_id: str) -> str:
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    versions = svc.list_versions(org, assistant, limit=100, cursor=None).items
    return render_template("assistants/detail.html", **_page(org, assistant),
                           **_preview_panel(assistant, versions, assistant.live_version))


@bp.route("/<assistant_id>/preview", methods=["GET", "POST"])
def preview(assistant_id: str) -> str | tuple[str, int]:
    """Ask a version (the picker's, default live) with the panel's history; read-only, so
    viewers may try assistants too. GET starts over."""
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    versions = svc.list_versions(org, assistant, limit=100, cursor=None).items
    number = _version_number(request.values.get("version"), assistant.live_version)
    history = _history(request.form.get("history"))
    status, errors, transcript, trace = 200, {}, list(history), None
    if request.method == "POST":
        question = request.form.get("content", "")
        try:
            result = preview_svc.preview(org, assistant_id, question, version=number,
                                         history=[(t["role"], t["content"]) for t in history])
        except ValidationFailed as exc:
            status, errors = 422, exc.fields
        else:
            transcript += [{"role": "user", "content": question},
                           {"role": "assistant", "content": result.reply.content,
                            "reply": result.reply}]
            trace = result.trace
    panel = _preview_panel(assistant, versions, number, transcript=transcript, trace=trace,
                           errors=errors)
    if htmx:
        return render_template("assistants/_preview.html", **panel), status
    return render_template("assistants/detail.html", **_page(org, assistant), **panel), status


def _page(org: Any, assistant: Any) -> dict[str, Any]:
    """What the assistant page shows besides the preview: source titles, the test cases,
    and each version's latest evaluation."""
    latest = evaluation_svc.latest_per_version(org, assistant.id)
    went_live: dict[int, Any] = {}  # version → when it last went live
    for promotion in svc.promotion_history(org, assistant):
        went_live.setdefault(promotion.number, promotion.created_at)
    return {"source_titles": {s.id: s.title for s in overview.knowledge_sources(org)},
            "tests": evaluation_svc.list_tests(org, assistant.id, limit=100,
                                               cursor=None).items,
            "evaluations": latest, "engine": answering.engine_for(org, assistant),
            "went_live": went_live}


def _preview_panel(assistant: Any, versions: list, number: int, *,
                   transcript: list | None = None, trace: list | None = None,
                   errors: dict | None = None) -> dict[str, Any]:
    turns = [{"role": t["role"], "content": t["content"]} for t in transcript or []]
    return {"assistant": assistant, "versions": versions, "selected_version": number,
            "transcript": transcript or [],
            "trace": trace, "errors": errors or {}, "gate": GATE, "given": answering.TOP_K,
            "history_json": json.dumps(turns[-preview_svc.MAX_HISTORY:], ensure_ascii=False)}


def _version_number(raw: str | None, live: int) -> int:
    try:
        return int(raw) if raw else live
    except ValueError:
        return live


def _history(raw: str | None) -> list[dict[str, str]]:
    """The panel's earlier turns; anything malformed starts the conversation afresh (the
    service still checks every turn)."""
    try:
        turns = json.loads(raw or "[]")
    except ValueError:
        return []
    if not isinstance(turns, list):
        return []
    return [{"role": t["role"], "content": t["content"]} for t in turns
            if isinstance(t, dict) and isinstance(t.get("role"), str)
            and isinstance(t.get("content"), str)]


@bp.route("/<assistant_id>/edit", methods=["GET", "POST"])
@requires_write
def edit(assistant_id: str) -> Response | str | tuple[str, int]:
    org = current_org()
    assistant = svc.get_assistant(org, assistant_id)
    latest = svc.get_version(org, assistant, assistant.latest_version)
    if request.method == "GET":
        return render_template("assistants/form.html", mode="edit", assistant=assistant,
                               values=values_of(latest.config()), errors={},
                               engine=answering.engine_for(org, latest))
    result = parse_update(request.form)
    if result.errors:
        return render_template("assistants/form.html", mode="edit", assistant=assistant,
                               values=result.values, errors=result.errors,
                               engine=answering.engine_for(org, latest)), 422
    body = result.model
    changes = body.model_dump(exclude_unset=True, exclude={"promote", "note"})
    assistant, created = svc.update_assistant(org, assistant_id, changes, promote=body.promote,
                                              note=body.note, actor=current_user.id)
    if created is None:
        message = "Nothing changed, so no new version was made."
        if body.promote:
            message += f" Version {assistant.live_version} is live."
        return redirect_with_toast("console_assistants.detail", message, "info",
                                   assistant_id=assistant.id)
    state = "and it is live now" if body.promote else "as a draft; the live version is unchanged"
    return redirect_with_toast("console_assistants.detail",
                               f"Saved version {created.number} {state}.",
                               assistant_id=assistant.id)


@bp.post("/<assistant_id>/active")
@requires_write
def set_active(assistant_id: str) -> Response:
    """The switch in the list (in place over HTMX) and Pause/Resume on the assistant page:
    flips `is_active`, no new version."""
    active = "active" in request.form
    assistant = svc.set_active(current_org(), assistant_id, active)
    message = (f"“{assistant.name}” is active." if active
               else f"“{assistant.name}” is paused: it refuses new conversations.")
    if request.form.get("back") == "detail":
        return redirect_with_toast("console_assistants.detail", message,
                                   assistant_id=assistant.id)
    if not htmx:
        return redirect_with_toast("console_assistants.index", message)
    resp = make_response(render_template("assistants/_row.html", a=assistant))
    return toast(resp, message)


@bp.post("/<assistant_id>/delete")
@requires_write
def delete(assistant_id: str) -> Response:
    org = current_org()
    name = svc.get_assistant(org, assistant_id).name
    svc.delete_assistant(org, assistant_id)
    return redirect_with_toast("console_assistants.index",
                               f"Assistant “{name}” deleted. Its conversations stay readable.")

