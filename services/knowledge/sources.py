"""Creating, reading, changing and deleting knowledge sources of every kind.

Creation validates everything that can be checked cheaply (type from content, size, URL
guard) before a row exists, then commits the source and enqueues its processing job, so a
refused upload leaves nothing behind and an accepted one is always observable.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from errors import AppError, Conflict, NotFound, Unprocessable, ValidationFailed
from extensions import db
from services.jobs import enqueue
from models.ids import new_id
from models.jobs import Job
from models.knowledge import KIND_PREFIX, KnowledgeChunk, KnowledgeSource
from models.orgs import Organization
from models.types import utcnow
from services.knowledge import lexical, storage
from services.knowledge.pipeline import INGEST_JOB
from services.knowledge.sniff import detect_kind
from services.knowledge.url_guard import check_url
from services.knowledge.embedder import canonical_name, known_models
from services.knowledge.vectors import remove_everywhere
from services import audit_trail
from services.pagination import Page, paginate

REEMBED_JOB = "reembed"
MAX_QA_BULK = 500
MAX_FILES_BULK = 100
MAX_TAGS = 20
MAX_CSV_LINE_ERRORS = 10
T = TypeVar("T")


def _new_source(org: Organization, kind: str, **fields: Any) -> KnowledgeSource:
    source = KnowledgeSource(id=new_id(KIND_PREFIX[kind]), org_id=org.id, kind=kind,
                             status="queued", **fields)
    db.session.add(source)
    return source


def _queue(org: Organization, sources: list[KnowledgeSource], **params: object) -> Job:
    """Enqueue one processing job for `sources` and point each at it, in three statements
    whatever their number (a bulk Q&A import is hundreds of sources).

    The job just queued (or the pending one it was merged into) is the one to watch: a
    refresh or re-process must not answer with the previous, finished job's id."""
    ids = [s.id for s in sources]
    job = enqueue(org.id, INGEST_JOB, target_id=ids[0] if len(ids) == 1 else None,
                  params={"source_ids": ids, **params})
    db.session.execute(update(KnowledgeSource).where(KnowledgeSource.id.in_(ids))
                       .values(last_job_id=job.id))
    db.session.commit()
    # One reload for all: in the inline job mode the job has already changed them.
    db.session.execute(select(KnowledgeSource).where(KnowledgeSource.id.in_(ids))
                       .execution_options(populate_existing=True)).scalars().all()
    return job


# ----------------------------------------------------------------------------- files
def create_file(org: Organization, data: bytes, *, filename: str | None,
                title: str | None) -> tuple[KnowledgeSource, Job | None, bool]:
    """Store an upload and queue its processing. Identical content already in this
    organization returns the existing source (no duplicate vectors): (source, None, True)."""
    (source, duplicate), job = _store_files(org, [(data, filename, title)])[0], None
    if not duplicate:
        job = _queue(org, [source])
    return source, job, duplicate


def create_files(org: Organization, uploads: list[tuple[bytes, str | None, str | None]]
                 ) -> tuple[list[tuple[KnowledgeSource, bool]], Job | None]:
    """Many uploads (data, filename, title) processed by one batched job: one embedding
    call and one index write for the lot. Every file is validated before any is stored,
    so a bad file refuses the request and nothing is half-written."""
    stored = _store_files(org, uploads)
    fresh = [source for source, duplicate in stored if not duplicate]
    return stored, (_queue(org, fresh) if fresh else None)


def _store_files(org: Organization, uploads: list[tuple[bytes, str | None, str | None]]
                 ) -> list[tuple[KnowledgeSource, bool]]:
    checked = []
    for n, (data, filename, title) in enumerate(uploads):
        if not data:
            where = "file" if len(uploads) == 1 else f"files[{n}]"
            raise ValidationFailed({where: ["The file is empty."]})
        # 415 for anything we cannot read, whatever its name says
        checked.append((data, filename, title, detect_kind(data), storage.sha256_hex(data)))
    return _insert_unique(lambda: _insert_files(org, checked))


def _insert_unique(insert: Callable[[], T]) -> T:
    """Run an insert of files or Q&A pairs; when a concurrent identical one committed first
    (unique org + kind + digest), roll back and run it again: the next pass finds that
    source and answers it as the duplicate."""
    for _attempt in range(2):
        try:
            return insert()
        except IntegrityError:
            db.session.rollback()
    return insert()


def _insert_files(org: Organization, checked: list[tuple[bytes, str | None, str | None,
                                                         str, str]]
                  ) -> list[tuple[KnowledgeSource, bool]]:
    digests = {c[4] for c in checked}
    existing = {s.content_sha256: s for s in db.session.execute(
        KnowledgeSource.query_for_org(org).where(
            KnowledgeSource.kind == "file", KnowledgeSource.content_sha256.in_(digests))
    ).scalars()}
    result: list[tuple[KnowledgeSource, bool]] = []
    for data, filename, title, kind, digest in checked:
        if digest in existing:
            result.append((existing[digest], True))
            continue
        key = storage.put(org.id, data)
        # control characters (NUL above all: PostgreSQL refuses it) never reach a text column
        name = "".join(ch for ch in (filename or "") if ch >= " " and ch != "\x7f")
        name = name.strip()[:300] or None
        source = _new_source(org, "file", title=(title or name or f"Untitled {kind}")[:300],
                             filename=name, file_type=kind, byte_size=len(data),
                             storage_key=key, content_sha256=digest)
        existing[digest] = source
        result.append((source, False))
    db.session.commit()
    return result


# ------------------------------------------------------------------------------- Q&A
def _clean_qa(item: dict[str, Any], where: str = "") -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    q = (item.get("question") or "").strip()
    a = (item.get("answer") or "").strip()
    tags = item.get("tags") or []
    if not q or len(q) > 2000:
        errors[f"{where}question"] = ["Give a question of 1 to 2000 characters."]
    if not a or len(a) > 20000:
        errors[f"{where}answer"] = ["Give an answer of 1 to 20000 characters."]
    if "\x00" in q:
        errors[f"{where}question"] = ["Text cannot contain NUL bytes."]
    if "\x00" in a:
        errors[f"{where}answer"] = ["Text cannot contain NUL bytes."]
    if not isinstance(tags, list) or len(tags) > MAX_TAGS or not all(
            isinstance(t, str) and 0 < len(t.strip()) <= 50 for t in tags):
        errors[f"{where}tags"] = [f"Up to {MAX_TAGS} tags of 1 to 50 characters."]
    elif any("\x00" in t for t in tags):  # PostgreSQL cannot store NUL in text or JSONB
        errors[f"{where}tags"] = ["Text cannot contain NUL bytes."]
    if errors:
        raise ValidationFailed(errors)
    return {"question": q, "answer": a, "tags": [t.strip() for t in tags]}


def create_qas(org: Organization, items: list[dict[str, Any]], *,
               corrects_message_id: str | None = None
               ) -> tuple[list[KnowledgeSource], Job | None, set[str]]:
    """Create one or many Q&A pairs atomically (all or none) and index them in one job.
    A pair identical to one the organization has (or to an earlier item) is that source,
    not a new one: returns (sources in item order, the job or None, ids that existed).
    `corrects_message_id` links the pairs to the assistant reply they correct (an
    identical pair that corrected nothing yet takes the link too)."""
    if not items:
        raise ValidationFailed({"items": ["Give at least one question and answer."]})
    if len(items) > MAX_QA_BULK:
        raise ValidationFailed({"items": [f"At most {MAX_QA_BULK} pairs per request."]})
    cleaned = []
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        try:
            cleaned.append(_clean_qa(item, f"{i}." if len(items) > 1 else ""))
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(errors)
    sources, fresh, existed = _insert_unique(
        lambda: _insert_qas(org, cleaned, corrects_message_id))
    return sources, (_queue(org, fresh) if fresh else None), existed


def _qa_digest(question: str, answer: str) -> str:
    return storage.sha256_hex((question + "\n" + answer).encode())


def _insert_qas(org: Organization, cleaned: list[dict[str, Any]],
                corrects_message_id: str | None = None
                ) -> tuple[list[KnowledgeSource], list[KnowledgeSource], set[str]]:
    digests = [_qa_digest(c["question"], c["answer"]) for c in cleaned]
    known = {s.content_sha256: s for s in db.session.execute(
        KnowledgeSource.query_for_org(org).where(
            KnowledgeSource.kind == "qa", KnowledgeSource.content_sha256.in_(set(digests)))
    ).scalars()}
    existed = {s.id for s in known.values()}
    sources, fresh = [], []
    for c, digest in zip(cleaned, digests, strict=True):
        if digest not in known:
            known[digest] = _new_source(org, "qa", title=c["question"][:300],
                                        question=c["question"], answer=c["answer"],
                                        tags=c["tags"], content_sha256=digest,
                                        corrects_message_id=corrects_message_id)
            fresh.append(known[digest])
        elif corrects_message_id and known[digest].corrects_message_id is None:
            known[digest].corrects_message_id = corrects_message_id
        sources.append(known[digest])
    db.session.commit()
    return sources, fresh, existed


def parse_qa_csv(data: bytes) -> list[dict[str, Any]]:
    """`question,answer[,tags]` with a header row; tags separated by `;`.

    A row with more fields than the header is refused, naming its line: an unquoted comma
    (`Yes, to all EU countries.`) would otherwise shift the rest of the answer into the
    tags and import a wrong pair as if all were well."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable("The CSV is not valid UTF-8.", code="unreadable_file") from exc
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "question" not in fields or "answer" not in fields:
        raise ValidationFailed({"file": ["The CSV needs a header with question and answer."]})
    reader.fieldnames = fields
    items, refused = [], []
    for row in reader:
        extra = row.pop(None, None)  # DictReader's key for values past the header
        if extra is not None:
            # line_num is the record's last line: its only line unless a quoted value
            # spans several.
            refused.append(f"Line {reader.line_num} has {len(fields) + len(extra)} fields "
                           f"but the header has {len(fields)}; put a value that contains "
                           "a comma in double quotes.")
            continue
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        tags = [t for t in (row.get("tags") or "").split(";") if t.strip()]
        items.append({"question": row.get("question"), "answer": row.get("answer"),
                      "tags": tags})
    if refused:
        shown = refused[:MAX_CSV_LINE_ERRORS]
        if len(refused) > len(shown):
            shown.append(f"… and {len(refused) - len(shown)} more line(s) like these.")
        raise ValidationFailed({"file": shown})
    return items


def update_qa(org: Organization, source_id: str,
              changes: dict[str, Any]) -> tuple[KnowledgeSource, Job | None]:
    source = get_source(org, source_id, kind="qa")
    merged = {"question": source.question, "answer": source.answer, "tags": source.tags,
              **{k: v for k, v in changes.items() if v is not None}}
    cleaned = _clean_qa(merged)
    text_changed = (cleaned["question"], cleaned["answer"]) != (source.question, source.answer)
    source.question, source.answer, source.tags = (cleaned["question"], cleaned["answer"],
                                                   cleaned["tags"])
    source.title = cleaned["question"][:300]
    job = None
    if text_changed:
        source.status = "queued"
        source.content_sha256 = _qa_digest(cleaned["question"], cleaned["answer"])
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("An identical question and answer already exists in this "
                       "organization.", code="duplicate_qa") from None
    if text_changed:
        job = _queue(org, [source])
    return source, job


# ------------------------------------------------------------------------------ URLs
def create_url(org: Organization, url: str, *, title: str | None) -> tuple[KnowledgeSource, Job]:
    cfg = current_app.config
    checked = check_url(url, cfg["URL_FETCH_ALLOW_LOOPBACK"],  # 422 url_not_allowed now
                        allow_networks=cfg["OUTBOUND_ALLOW_CIDRS"])
    source = _new_source(org, "url", title=(title or checked.url)[:300], url=checked.url)
    db.session.commit()
    job = _queue(org, [source])
    return source, job


def create_urls(org: Organization, items: list[tuple[str, str | None]]
                ) -> tuple[list[KnowledgeSource], Job]:
    """Many pages, fetched and indexed by one batched job. Every address is checked
    first: one refused address (`items.N.url`) refuses the request, nothing is created."""
    cfg = current_app.config
    checked, errors = [], {}
    for n, (url, title) in enumerate(items):
        try:
            checked.append((check_url(url, cfg["URL_FETCH_ALLOW_LOOPBACK"],
                                      allow_networks=cfg["OUTBOUND_ALLOW_CIDRS"]), title))
        except AppError as exc:
            errors[f"items.{n}.url"] = [exc.message]
    if errors:
        raise ValidationFailed(errors)
    sources = [_new_source(org, "url", title=(title or c.url)[:300], url=c.url)
               for c, title in checked]
    db.session.commit()
    return sources, _queue(org, sources)


def refresh_url(org: Organization, source_id: str) -> tuple[KnowledgeSource, Job]:
    source = get_source(org, source_id, kind="url")
    audit_trail.record(org.id, "knowledge_source.refreshed", "knowledge_source", source.id,
                       {"url": [source.url, source.url]})
    job = _queue(org, [source], refresh=True)
    return source, job


def queue_reembed(org: Organization, source_ids: list[str] | None,
                  model: str | None = None) -> Job:
    """Queue re-embedding of these sources (every source when None or empty), or moving
    the whole organization to another embedding `model` (built beside the serving index,
    switched when complete). Checked first so an unknown or foreign id, or an unknown
    model, is refused and nothing is queued; shared by the API, the console and the CLI."""
    if model is not None:
        if model not in known_models():
            raise ValidationFailed({"model": [
                f"Unknown embedding model; choose one of: {', '.join(known_models())}."]})
        if source_ids:
            raise ValidationFailed({"model": [
                "A model change re-embeds every source; do not name source_ids."]})
        model = canonical_name(model)
    for source_id in source_ids or []:
        get_source(org, source_id)
    params: dict[str, Any] = {"source_ids": source_ids}
    if model is not None:
        params["model"] = model
    audit_trail.record(org.id, "knowledge.reembed_requested", "organization", org.id,
                       {"embedding_model": [org.embedding_model, model or org.embedding_model],
                        "source_ids": [None, source_ids or "all"]})
    return enqueue(org.id, REEMBED_JOB, target_id=None, params=params)


# ------------------------------------------------------------------------------ reads
def get_source(org: Organization | str, source_id: str, *,
               kind: str | None = None) -> KnowledgeSource:
    source = KnowledgeSource.get_for_org(source_id, org)
    if kind is not None and source.kind != kind:
        raise NotFound(KnowledgeSource.not_found_message)
    return source


def list_sources(org: Organization, *, kind: str | None, status: str | None = None,
                 limit: int, cursor: str | None) -> Page:
    stmt = KnowledgeSource.query_for_org(org)
    if kind:
        stmt = stmt.where(KnowledgeSource.kind == kind)
    if status:
        stmt = stmt.where(KnowledgeSource.status == status)
    return paginate(stmt, KnowledgeSource, limit=limit, cursor=cursor)


def list_chunks(org: Organization, source_id: str, *, limit: int = 200,
                offset: int = 0) -> list[KnowledgeChunk]:
    get_source(org, source_id)
    stmt = (KnowledgeChunk.query_for_org(org).where(KnowledgeChunk.source_id == source_id)
            .order_by(KnowledgeChunk.position).limit(limit).offset(offset))
    return list(db.session.execute(stmt).scalars())


def counts_by_status(org: Organization) -> dict[str, int]:
    rows = db.session.execute(
        select(KnowledgeSource.status, func.count()).where(KnowledgeSource.org_id == org.id)
        .group_by(KnowledgeSource.status)).all()
    return {status: n for status, n in rows}


# ----------------------------------------------------------------------------- delete
def delete_source(org: Organization, source_id: str, *, kind: str | None = None) -> None:
    """Remove the source, its chunks and its vectors from every index."""
    source = get_source(org, source_id, kind=kind)
    vector_ids = list(db.session.execute(
        select(KnowledgeChunk.vector_id).where(KnowledgeChunk.source_id == source.id)).scalars())
    storage_key = source.storage_key
    lexical.remove_source(org.id, source.id)
    db.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source.id))
    db.session.delete(source)
    _drop_from_scopes(org, source.id)
    db.session.commit()
    remove_everywhere(org.id, vector_ids)  # tombstones: cheap; compaction reclaims later
    if storage_key and not db.session.execute(
            select(func.count()).select_from(KnowledgeSource)
            .where(KnowledgeSource.storage_key == storage_key)).scalar_one():
        storage.delete(storage_key)


def _drop_from_scopes(org: Organization, source_id: str) -> None:
    from models.assistants import Assistant

    for a in db.session.execute(Assistant.query_for_org(org)).scalars():
        if source_id in (a.knowledge_linked or []) or source_id in (a.knowledge_excluded or []):
            a.knowledge_linked = [s for s in a.knowledge_linked if s != source_id]
            a.knowledge_excluded = [s for s in a.knowledge_excluded if s != source_id]
            a.updated_at = utcnow()

