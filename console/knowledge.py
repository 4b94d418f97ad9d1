"""Knowledge: the source library (filters, paging, live status), multi-file upload,
source detail with its chunks and job, delete, URL refresh and re-embed.

The Q&A bank and URL list (console/knowledge_bank.py) and the search tester
(console/knowledge_search.py) are nested under this blueprint, so the area registers as
one `bp`. Every change goes through services.knowledge.sources, as the API's does.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from console import knowledge_bank, knowledge_search
from console.access import current_org, redirect_with_toast, require_login, requires_write, toast
from console.knowledge_view import (
    PAGE_SIZE,
    PENDING,
    filter_choice,
    init_knowledge_filters,
    jobs_of,
    render_rows,
)
from errors import AppError, NotFound
from extensions import htmx
from models.jobs import Job
from models.knowledge import SOURCE_KINDS, SOURCE_STATUSES
from models.orgs import Organization
from services.knowledge import sources as svc

bp = require_login(Blueprint("console_knowledge", __name__, url_prefix="/console/knowledge"))
bp.record_once(lambda state: init_knowledge_filters(state.app))
bp.register_blueprint(knowledge_bank.qa_bp)
bp.register_blueprint(knowledge_bank.url_bp)
bp.register_blueprint(knowledge_search.bp)
CHUNK_PAGE = 50
LIST_OF_KIND = {"qa": "console_knowledge.qas.index", "url": "console_knowledge.urls.index",
                "file": "console_knowledge.index"}


# ----------------------------------------------------------------------------- library
@bp.get("/")
def index() -> str:
    """The library; an HTMX call (filter change, "load more") gets only the rows."""
    org = current_org()
    kind = filter_choice(request.args.get("kind"), SOURCE_KINDS)
    status = filter_choice(request.args.get("status"), SOURCE_STATUSES)
    page = svc.list_sources(org, kind=kind, status=status, limit=PAGE_SIZE,
                            cursor=request.args.get("cursor") or None)
    rows = render_rows(org, page.items)
    more = url_for(".index", kind=kind, status=status, cursor=page.next_cursor) \
        if page.next_cursor else None
    if htmx:
        return render_template("knowledge/_rows.html", rows=rows, more=more, cols=6,
                               empty=not page.items and not request.args.get("cursor"))
    return render_template(
        "knowledge/index.html", rows=rows, more=more, empty=not page.items,
        kind=kind, status=status, counts=svc.counts_by_status(org),
        job=_job_or_none(org, request.args.get("job")),
    )


def _job_or_none(org: Organization, job_id: str | None) -> Job | None:
    """The re-embed job named in the URL; a stale or foreign id just shows no panel."""
    try:
        return Job.get_for_org(job_id, org) if job_id else None
    except NotFound:
        return None


@bp.post("/files")
@requires_write
def upload() -> Response:
    """One file per request from the page's uploader (progress per file, a row back);
    several in one plain form post without JavaScript (a summary toast)."""
    org = current_org()
    files = [f for f in request.files.getlist("file") if f.filename or f.content_length]
    if not files:
        return _upload_refused("Choose at least one file to upload.", 422)
    title = (request.form.get("title") or "").strip() or None
    if title and (len(title) > 300 or "\x00" in title):
        return _upload_refused("A title has 1 to 300 characters and no NUL bytes.", 422)
    if htmx:
        upload_file = files[0]
        try:
            source, _, duplicate = svc.create_file(org, upload_file.read(),
                                                   filename=upload_file.filename, title=title)
        except AppError as exc:
            return _upload_refused(f"{upload_file.filename}: {_message(exc)}", exc.status)
        resp = make_response(render_rows(org, [source]), 200 if duplicate else 202)
        note = ("was already uploaded; showing the existing source" if duplicate
                else "uploaded; processing started")
        return toast(resp, f"“{source.title}” {note}.", "info" if duplicate else "success")
    accepted, refused = [], []
    for upload_file in files:
        try:
            source, _, _ = svc.create_file(org, upload_file.read(),
                                           filename=upload_file.filename,
                                           title=title if len(files) == 1 else None)
            accepted.append(source.title)
        except AppError as exc:
            refused.append(f"{upload_file.filename}: {_message(exc)}")
    message = f"{len(accepted)} file(s) uploaded; processing started."
    if refused:
        message += " Refused: " + "; ".join(refused)
    return redirect_with_toast("console_knowledge.index", message,
                               "warning" if refused else "success")


def _message(exc: AppError) -> str:
    fields = getattr(exc, "fields", None)
    if fields:
        return " ".join(m for msgs in fields.values() for m in msgs)
    return exc.message


def _upload_refused(message: str, status: int) -> Response:
    if not htmx:
        return redirect_with_toast("console_knowledge.index", message, "error")
    resp = make_response(render_template("knowledge/_upload_error.html", message=message),
                         status)
    return toast(resp, message, "error")


# ------------------------------------------------------------------------------ detail
@bp.get("/sources/<source_id>")
def detail(source_id: str) -> str:
    org = current_org()
    source = svc.get_source(org, source_id)
    offset = max(0, request.args.get("offset", 0, type=int) or 0)
    chunks = svc.list_chunks(org, source.id, limit=CHUNK_PAGE, offset=offset)
    more = offset + CHUNK_PAGE if len(chunks) == CHUNK_PAGE else None
    if htmx and offset:
        return render_template("knowledge/_chunks.html", source=source, chunks=chunks,
                               more=more, offset=offset)
    return render_template("knowledge/detail.html", source=source, chunks=chunks, more=more,
                           offset=offset, job=jobs_of(org, [source]).get(source.id))


@bp.get("/sources/<source_id>/row")
def row(source_id: str) -> Response:
    """One library row: what a processing row polls every 2 seconds until it settles;
    the settled answer tells the page (`knowledge-changed`) to refresh its counts."""
    org = current_org()
    source = svc.get_source(org, source_id)
    resp = make_response(render_rows(org, [source]))
    if source.status not in PENDING:
        resp.headers["HX-Trigger"] = "knowledge-changed"
    return resp


@bp.get("/counts")
def counts() -> str:
    """Sources per status, re-fetched whenever a source settles or is uploaded."""
    return render_template("knowledge/_counts.html", counts=svc.counts_by_status(current_org()))


@bp.get("/sources/<source_id>/status")
def status(source_id: str) -> Response:
    """The detail page's status card; once the source settles the page reloads to show
    its summary and chunks."""
    org = current_org()
    source = svc.get_source(org, source_id)
    resp = make_response(render_template("knowledge/_status.html", source=source,
                                         job=jobs_of(org, [source]).get(source.id)))
    if source.status not in PENDING and request.args.get("poll"):
        resp.headers["HX-Refresh"] = "true"
    return resp


@bp.get("/jobs/<job_id>")
def job_status(job_id: str) -> str:
    """A re-embed job's progress (polled while it is queued or running)."""
    return render_template("knowledge/_job.html", job=Job.get_for_org(job_id, current_org()))


# ----------------------------------------------------------------------------- changes
@bp.post("/sources/<source_id>/delete")
@requires_write
def delete(source_id: str) -> Response:
    org = current_org()
    source = svc.get_source(org, source_id)
    title, kind = source.title, source.kind
    svc.delete_source(org, source.id)
    message = f"“{title}” deleted, with its chunks and vectors."
    if htmx:
        return toast(make_response("", 200), message)
    return redirect_with_toast(LIST_OF_KIND[kind], message)


@bp.post("/sources/<source_id>/refresh")
@requires_write
def refresh(source_id: str) -> Response:
    org = current_org()
    source, _ = svc.refresh_url(org, source_id)
    message = f"Re-fetching {source.url}; unchanged content is not re-embedded."
    if htmx:
        return toast(make_response(render_rows(org, [source])), message)
    return redirect_with_toast("console_knowledge.detail", message, source_id=source.id)


@bp.post("/reembed")
@requires_write
def reembed() -> Response:
    """Recompute embeddings of one source (from its page) or of the whole library."""
    org = current_org()
    ids = [i for i in request.form.getlist("source_id") if i] or None
    job = svc.queue_reembed(org, ids)
    if ids and len(ids) == 1:
        return redirect_with_toast("console_knowledge.detail",
                                   f"Re-embedding queued as {job.id}.", source_id=ids[0])
    resp = redirect(url_for("console_knowledge.index", job=job.id))
    return toast(resp, f"Re-embedding every source: job {job.id} queued.")
