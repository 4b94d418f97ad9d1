"""`/api/v1/knowledge/` — files, Q&A banks, live URLs, re-embed and search (SPEC §4)."""
from __future__ import annotations

from flask import Blueprint, request

from api.auth import current_org
from api.endpoint import NUL_MESSAGE, endpoint, parse_model, read_json
from api.schemas.common import ListQuery
from api.schemas.knowledge import (
    ChunkList,
    ChunkOut,
    JobAccepted,
    QABulkCreate,
    QABulkOut,
    QACreate,
    QACreateRequest,
    QAUpdate,
    ReembedRequest,
    SearchHitOut,
    SearchRequest,
    SearchResponse,
    FileBulkOut,
    SourceAccepted,
    SourceListQuery,
    SourceOut,
    SourcePage,
    URLBulkCreate,
    URLBulkOut,
    URLCreate,
    URLCreateRequest,
)
from errors import ValidationFailed
from services import assistants as assistant_svc
from services.knowledge import retrieval
from services.knowledge import sources as svc

bp = Blueprint("knowledge", __name__, url_prefix="/api/v1/knowledge")
TAGS = ["Knowledge"]
_UPLOAD_SCHEMA = {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary"}, "title": {"type": "string"}}}


def _page(kind: str, query: SourceListQuery) -> SourcePage:
    page = svc.list_sources(current_org(), kind=kind, status=query.status, limit=query.limit,
                            cursor=query.cursor)
    return SourcePage(items=[SourceOut.of(s) for s in page.items], next_cursor=page.next_cursor)


# ----------------------------------------------------------------------------- files
@bp.post("/files/")
@endpoint(summary="Upload a file (PDF, CSV, text/Markdown, JSON, PNG/JPEG/WebP), or up to "
                  "100 at once as repeated `file` fields (one batched job, FileBulkOut)",
          tags=TAGS, multipart=_UPLOAD_SCHEMA,
          response=(SourceAccepted, FileBulkOut), status=202, also=(200,),
          errors=(413, 415, 422))
def upload_file():  # noqa: ANN201 - one file, or many in one batched job
    uploads = request.files.getlist("file")
    if not uploads:
        raise ValidationFailed({"file": ["Send the file as multipart form field 'file'."]})
    if len(uploads) > 1:
        return _upload_many(uploads)
    upload = uploads[0]
    title = (request.form.get("title") or "").strip() or None
    if title and len(title) > 300:
        raise ValidationFailed({"title": ["At most 300 characters."]})
    if title and "\x00" in title:
        raise ValidationFailed({"title": [NUL_MESSAGE]})
    source, _, duplicate = svc.create_file(current_org(), upload.read(),
                                           filename=upload.filename, title=title)
    out = SourceAccepted.of(source, duplicate=duplicate)
    return out, 200 if duplicate else 202


def _upload_many(uploads: list) -> tuple[FileBulkOut, int]:
    """Several `file` fields: validated together (one bad file refuses the request, nothing
    stored), processed by one batched job: one embedding call, one index segment."""
    if len(uploads) > svc.MAX_FILES_BULK:
        raise ValidationFailed({"file": [f"At most {svc.MAX_FILES_BULK} files per request."]})
    stored, job = svc.create_files(current_org(), [(u.read(), u.filename, None)
                                                   for u in uploads])
    items = [SourceAccepted.of(s, duplicate=d) for s, d in stored]
    return FileBulkOut(items=items, job_id=job.id if job else None), 202


@bp.get("/files/")
@endpoint(summary="List files", tags=TAGS, query=SourceListQuery, response=SourcePage)
def list_files(query: SourceListQuery) -> SourcePage:
    return _page("file", query)


@bp.get("/files/<source_id>")
@endpoint(summary="Get a file source", tags=TAGS, response=SourceOut)
def get_file(source_id: str) -> SourceOut:
    return SourceOut.of(svc.get_source(current_org(), source_id, kind="file"))


@bp.delete("/files/<source_id>")
@endpoint(summary="Delete a file and its vectors", tags=TAGS, status=204)
def delete_file(source_id: str) -> None:
    svc.delete_source(current_org(), source_id, kind="file")


# ------------------------------------------------------------------------------- Q&A
@bp.post("/qas/")
@endpoint(summary="Create a Q&A pair, or many with {\"items\": [...]}; a pair identical to "
                  "an existing one answers that source (`duplicate: true`)", tags=TAGS,
          response=(SourceAccepted, QABulkOut), status=201, also=(200, 202),
          body_doc=QACreateRequest, errors=(422,))
def create_qa():  # noqa: ANN201 - single or bulk
    data = read_json()
    if isinstance(data, list) or (isinstance(data, dict) and "items" in data):
        bulk = parse_model(QABulkCreate, {"items": data} if isinstance(data, list) else data)
        return _qa_bulk(svc.create_qas(current_org(), [i.model_dump() for i in bulk.items])), 202
    single = parse_model(QACreate, data)
    sources, _, existed = svc.create_qas(current_org(), [single.model_dump()])
    out = SourceAccepted.of(sources[0], duplicate=bool(existed))
    return out, 200 if existed else 201


def _qa_bulk(result: tuple) -> QABulkOut:
    sources, job, existed = result
    return QABulkOut(items=[SourceAccepted.of(s, duplicate=s.id in existed) for s in sources],
                     job_id=job.id if job else None)


@bp.post("/qas/import")
@endpoint(summary="Import a Q&A bank from CSV (question,answer[,tags])", tags=TAGS,
          multipart=_UPLOAD_SCHEMA, response=QABulkOut, status=202, errors=(413, 422))
def import_qas() -> QABulkOut:
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed({"file": ["Send the CSV as multipart form field 'file'."]})
    items = svc.parse_qa_csv(upload.read())
    return _qa_bulk(svc.create_qas(current_org(), items))


@bp.get("/qas/")
@endpoint(summary="List Q&A pairs", tags=TAGS, query=SourceListQuery, response=SourcePage)
def list_qas(query: SourceListQuery) -> SourcePage:
    return _page("qa", query)


@bp.get("/qas/<source_id>")
@endpoint(summary="Get a Q&A pair", tags=TAGS, response=SourceOut)
def get_qa(source_id: str) -> SourceOut:
    return SourceOut.of(svc.get_source(current_org(), source_id, kind="qa"))


@bp.patch("/qas/<source_id>")
@endpoint(summary="Change a Q&A pair (re-indexed when its text changes)", tags=TAGS,
          body=QAUpdate, response=SourceOut, errors=(422,))
def update_qa(source_id: str, body: QAUpdate) -> SourceOut:
    source, _ = svc.update_qa(current_org(), source_id, body.model_dump(exclude_unset=True))
    return SourceOut.of(source)


@bp.delete("/qas/<source_id>")
@endpoint(summary="Delete a Q&A pair and its vectors", tags=TAGS, status=204)
def delete_qa(source_id: str) -> None:
    svc.delete_source(current_org(), source_id, kind="qa")


# ------------------------------------------------------------------------------ URLs
@bp.post("/urls/")
@endpoint(summary="Ingest a live web page, or up to 100 with {\"items\": [...]} (one "
                  "batched job)", tags=TAGS, body_doc=URLCreateRequest,
          response=(SourceOut, URLBulkOut), status=202, errors=(422,))
def create_url():  # noqa: ANN201 - single or bulk
    data = read_json()
    if isinstance(data, dict) and "items" in data:
        bulk = parse_model(URLBulkCreate, data)
        sources, job = svc.create_urls(current_org(), [(i.url, i.title) for i in bulk.items])
        return URLBulkOut(items=[SourceOut.of(s) for s in sources], job_id=job.id), 202
    body = parse_model(URLCreate, data)
    source, _ = svc.create_url(current_org(), body.url, title=body.title)
    return SourceOut.of(source), 202


@bp.get("/urls/")
@endpoint(summary="List URL sources", tags=TAGS, query=SourceListQuery, response=SourcePage)
def list_urls(query: SourceListQuery) -> SourcePage:
    return _page("url", query)


@bp.get("/urls/<source_id>")
@endpoint(summary="Get a URL source", tags=TAGS, response=SourceOut)
def get_url(source_id: str) -> SourceOut:
    return SourceOut.of(svc.get_source(current_org(), source_id, kind="url"))


@bp.post("/urls/<source_id>/refresh")
@endpoint(summary="Re-fetch a page (unchanged content is not re-embedded)", tags=TAGS,
          response=SourceOut, status=202)
def refresh_url(source_id: str) -> SourceOut:
    source, _ = svc.refresh_url(current_org(), source_id)
    return SourceOut.of(source)


@bp.delete("/urls/<source_id>")
@endpoint(summary="Delete a URL source and its vectors", tags=TAGS, status=204)
def delete_url(source_id: str) -> None:
    svc.delete_source(current_org(), source_id, kind="url")


# ------------------------------------------------------------------- chunks, reembed, search
@bp.get("/sources/<source_id>/chunks")
@endpoint(summary="A source's chunks with provenance", tags=TAGS, query=ListQuery,
          response=ChunkList)
def chunks(source_id: str, query: ListQuery) -> ChunkList:
    rows = svc.list_chunks(current_org(), source_id, limit=query.limit)
    return ChunkList(items=[ChunkOut(id=c.id, position=c.position, text=c.text,
                                     provenance=c.provenance or {}, token_count=c.token_count,
                                     embedding_model=c.embedding_model) for c in rows])


@bp.post("/reembed")
@endpoint(summary="Recompute embeddings and rebuild the affected indexes", tags=TAGS,
          body=ReembedRequest, response=JobAccepted, status=202, errors=(404, 422))
def reembed(body: ReembedRequest) -> JobAccepted:
    job = svc.queue_reembed(current_org(), body.source_ids, body.model)
    return JobAccepted(job_id=job.id, status=job.status)


@bp.post("/search")
@endpoint(summary="Ranked retrieval, exactly as an assistant sees it", tags=TAGS,
          body=SearchRequest, response=SearchResponse, errors=(404, 422))
def search(body: SearchRequest) -> SearchResponse:
    org = current_org()
    assistant = (assistant_svc.get_assistant(org, body.assistant_id)
                 if body.assistant_id else None)
    hits = retrieval.search(org, body.query, assistant=assistant, top_k=body.top_k)
    return SearchResponse(items=[SearchHitOut(
        source_id=h.source_id, kind=h.kind, title=h.title, chunk_id=h.chunk_id, text=h.text,
        score=h.score, provenance=h.provenance) for h in hits])
