"""The Q&A bank editor (list, add, inline edit, CSV import) and the URL list (add,
refresh), nested under the knowledge blueprint at /console/knowledge/qas and /urls.

Validation is the service's: a refused question or URL comes back as the same message the
API gives, shown under the field it concerns.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, render_template, request, url_for

from console.access import current_org, redirect_with_toast, require_login, requires_write, toast
from console.knowledge_view import PAGE_SIZE, filter_choice, render_rows
from errors import AppError, Conflict, ValidationFailed
from extensions import htmx
from models.knowledge import SOURCE_STATUSES, KnowledgeSource
from services.knowledge import sources as svc

qa_bp = require_login(Blueprint("qas", __name__, url_prefix="/qas"))
url_bp = require_login(Blueprint("urls", __name__, url_prefix="/urls"))


def _tags(raw: str) -> list[str]:
    """Tags are typed comma-separated; the service checks their number and length."""
    return [t.strip() for t in raw.split(",") if t.strip()]


def _qa_values(form: Any) -> dict[str, str]:
    return {k: form.get(k, "") for k in ("question", "answer", "tags")}


# --------------------------------------------------------------------------------- Q&A
@qa_bp.get("/")
def index() -> str | Response:
    return _qa_page({}, {}, {})


def _qa_page(values: dict[str, str], errors: dict[str, list[str]],
             import_errors: dict[str, list[str]], status: int = 200,
             editing: tuple[str, dict[str, str] | None, dict[str, list[str]]] | None = None,
             ) -> Response:
    """The bank page; `editing` = (source id, typed values, errors) opens that row's
    editor (the no-JavaScript path of inline editing)."""
    org = current_org()
    state = filter_choice(request.args.get("status"), SOURCE_STATUSES)
    page = svc.list_sources(org, kind="qa", status=state, limit=PAGE_SIZE,
                            cursor=request.args.get("cursor") or None)
    more = url_for(".index", status=state, cursor=page.next_cursor) if page.next_cursor else None
    if htmx and request.method == "GET":
        return make_response(render_template(
            "knowledge/_rows.html", rows=_qa_rows(page.items, editing), more=more, cols=5,
            empty=not page.items and not request.args.get("cursor")))
    return make_response(render_template(
        "knowledge/qas.html", rows=_qa_rows(page.items, editing), more=more,
        empty=not page.items, status=state, values=values, errors=errors,
        import_errors=import_errors), status)


def _qa_rows(items: list[KnowledgeSource],
             editing: tuple[str, dict[str, str] | None, dict[str, list[str]]] | None) -> str:
    edit_id, edit_values, edit_errors = editing or (None, None, {})
    return "".join(
        render_template("knowledge/_qa_edit.html", s=s, values=edit_values or _stored(s),
                        errors=edit_errors)
        if s.id == edit_id else render_template("knowledge/_qa_row.html", s=s)
        for s in items)


def _stored(source: KnowledgeSource) -> dict[str, str]:
    return {"question": source.question or "", "answer": source.answer or "",
            "tags": ", ".join(source.tags or [])}


@qa_bp.post("/")
@requires_write
def create() -> Response:
    values = _qa_values(request.form)
    try:
        _, _, existed = svc.create_qas(current_org(), [{"question": values["question"],
                                                        "answer": values["answer"],
                                                        "tags": _tags(values["tags"])}])
    except ValidationFailed as exc:
        return _qa_page(values, exc.fields, {}, 422)
    if existed:
        return redirect_with_toast(".index", "This question and answer are already in the "
                                   "bank; nothing was added.")
    return redirect_with_toast(".index", "Q&A pair added; it is being indexed.")


@qa_bp.post("/import")
@requires_write
def import_csv() -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _qa_page({}, {}, {"file": ["Choose a CSV file to import."]}, 422)
    try:
        items = svc.parse_qa_csv(upload.read())
        sources, _, existed = svc.create_qas(current_org(), items)
    except ValidationFailed as exc:
        return _qa_page({}, {}, _numbered(exc.fields), 422)
    except AppError as exc:
        return _qa_page({}, {}, {"file": [exc.message]}, 422)
    new = len({s.id for s in sources} - existed)
    skipped = f" ({len(sources) - new} already in the bank)" if new < len(sources) else ""
    return redirect_with_toast(".index", f"Imported {new} Q&A pair(s) from "
                               f"{upload.filename}{skipped}; they are being indexed.")


def _numbered(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """`3.answer` (the service's bulk key) → "Row 4, answer: ..." under the file field;
    messages about the file itself (header, line lengths) are shown as they are."""
    messages = []
    for key, msgs in fields.items():
        if key == "file":
            messages.extend(msgs)
            continue
        index, _, name = key.partition(".")
        where = f"Row {int(index) + 1}, {name}" if index.isdigit() and name else key
        messages.extend(f"{where}: {m}" for m in msgs)
    return {"file": messages}


@qa_bp.get("/<source_id>/row")
def row(source_id: str) -> str:
    """The display row (polled while indexing; also what "Cancel" swaps back in)."""
    return render_template("knowledge/_qa_row.html",
                           s=svc.get_source(current_org(), source_id, kind="qa"))


@qa_bp.get("/<source_id>/edit")
@requires_write
def edit(source_id: str) -> str | Response:
    source = svc.get_source(current_org(), source_id, kind="qa")
    if htmx:
        return render_template("knowledge/_qa_edit.html", s=source, values=_stored(source),
                               errors={})
    return _qa_page({}, {}, {}, editing=(source.id, None, {}))


@qa_bp.post("/<source_id>")
@requires_write
def update(source_id: str) -> Response:
    org = current_org()
    source = svc.get_source(org, source_id, kind="qa")
    values = _qa_values(request.form)
    try:
        source, job = svc.update_qa(org, source.id, {"question": values["question"],
                                                     "answer": values["answer"],
                                                     "tags": _tags(values["tags"])})
    except (ValidationFailed, Conflict) as exc:  # Conflict: identical to another pair
        fields = exc.fields if isinstance(exc, ValidationFailed) else {
            "question": [exc.message]}
        status = 422 if isinstance(exc, ValidationFailed) else 409
        source = svc.get_source(org, source_id, kind="qa")
        if not htmx:
            return _qa_page({}, {}, {}, status, editing=(source.id, values, fields))
        return make_response(render_template("knowledge/_qa_edit.html", s=source,
                                             values=values, errors=fields), status)
    message = "Q&A pair saved" + ("; re-indexing it." if job else ".")
    if not htmx:
        return redirect_with_toast(".index", message)
    return toast(make_response(render_template("knowledge/_qa_row.html", s=source)), message)


# -------------------------------------------------------------------------------- URLs
@url_bp.get("/", endpoint="index")
def url_list() -> Response:
    return _url_page({}, {})


def _url_page(values: dict[str, str], errors: dict[str, list[str]],
              status: int = 200) -> Response:
    org = current_org()
    state = filter_choice(request.args.get("status"), SOURCE_STATUSES)
    page = svc.list_sources(org, kind="url", status=state, limit=PAGE_SIZE,
                            cursor=request.args.get("cursor") or None)
    more = url_for(".index", status=state, cursor=page.next_cursor) if page.next_cursor else None
    rows = render_rows(org, page.items)
    if htmx and request.method == "GET":
        return make_response(render_template(
            "knowledge/_rows.html", rows=rows, more=more, cols=6,
            empty=not page.items and not request.args.get("cursor")))
    return make_response(render_template(
        "knowledge/urls.html", rows=rows, more=more, empty=not page.items, status=state,
        values=values, errors=errors), status)


@url_bp.post("/", endpoint="create")
@requires_write
def add_url() -> Response:
    values = {"url": request.form.get("url", "").strip(),
              "title": request.form.get("title", "").strip()}
    if len(values["title"]) > 300 or "\x00" in values["title"]:
        return _url_page(values, {"title": ["At most 300 characters, no NUL bytes."]}, 422)
    try:
        source, _ = svc.create_url(current_org(), values["url"],
                                   title=values["title"] or None)
    except ValidationFailed as exc:
        return _url_page(values, exc.fields, 422)
    except AppError as exc:  # url_not_allowed and friends: shown under the URL field
        return _url_page(values, {"url": [exc.message]}, exc.status)
    return redirect_with_toast(".index", f"Fetching {source.url}; it appears below.")
