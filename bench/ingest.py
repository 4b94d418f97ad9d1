"""Ingestion: the real pipeline (extract → chunk → enrich → embed → index) vs raw
`SentenceTransformer.encode` of the same chunks, in the same process and run.

    python -m bench.ingest                                  # 2,000 paragraphs + 50 PDFs
    python -m bench.ingest --paragraphs 400 --pdfs 10       # quicker
    python -m bench.ingest --paragraphs 0 --pdfs 0          # only the bulk-API part

The bulk-API part (issue 12) sends 1,000 one-paragraph sources through the JSON API in its
bulk forms (multi-file upload, Q&A bulk create) and compares the time until they are all
`ready` with a raw encode of the same chunks in the same run.

Sources go in through `services.knowledge.sources.create_file` on an embedded app (SQLite
and indexes in a temp INSTANCE_DIR, JOBS_MODE=sync), so each upload runs the same job
function (`pipeline.process_sources`) a worker runs: sniff, store, extract, chunk, local
enrichment (summary + YAKE keywords), embed, add to the FAISS index, swap chunk rows.
The model is loaded (and timed) before either side is measured; pipeline and raw encode
alternate in slices of the corpus so a shared machine's load drift hits both sides
alike. Per-stage times come from timing wrappers around the pipeline's own functions.
"""
from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import corpus
from bench.common import Report, ratio, results_path


def text_documents(paragraphs: int, docs: int, seed: int = 7) -> list[bytes]:
    paras = corpus.paragraphs(paragraphs, seed=seed)
    per = max(1, len(paras) // docs)
    out = []
    for i in range(0, len(paras), per):
        title = f"# Help centre article {i // per + 1}\n\n"
        out.append((title + "\n\n".join(paras[i:i + per]) + "\n").encode())
    return out


def pdf_documents(count: int, pages: tuple[int, int] = (3, 9), seed: int = 5
                  ) -> tuple[list[bytes], int]:
    """Multi-page PDFs with full pages of wrapped prose; returns (files, total pages)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    files, total = [], 0
    for n in range(count):
        buffer = io.BytesIO()
        pdf = canvas.Canvas(buffer, pagesize=A4)
        pdf.setTitle(f"Manual {n + 1}")
        n_pages = rng.randint(*pages)
        for _ in range(n_pages):
            words = " ".join(corpus.paragraph(rng) for _ in range(5)).split()
            y = 800
            line: list[str] = []
            for word in words:
                line.append(word)
                if len(" ".join(line)) > 85:
                    pdf.drawString(56, y, " ".join(line))
                    line, y = [], y - 15
                    if y < 60:
                        break
            if line and y >= 60:
                pdf.drawString(56, y, " ".join(line))
            pdf.showPage()
        pdf.save()
        files.append(buffer.getvalue())
        total += n_pages
    return files, total


class StageTimer:
    """Wraps pipeline functions by name to add up their wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, module: Any, attr: str, stage: str) -> None:
        original = getattr(module, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t

        setattr(module, attr, timed)
        self._undo.append(lambda: setattr(module, attr, original))

    def reset(self) -> None:
        self.seconds.clear()

    def restore(self) -> None:
        for undo in reversed(self._undo):
            undo()


class TimedEmbedder:
    """The app's embedder, timing `encode` (the pipeline's embed stage)."""

    def __init__(self, inner: Any, timer: StageTimer) -> None:
        self.inner, self.timer = inner, timer
        self.name, self.dim = inner.name, inner.dim

    def encode(self, texts: list[str], batch_size: int = 64) -> Any:
        t = time.perf_counter()
        try:
            return self.inner.encode(texts, batch_size=batch_size)
        finally:
            self.timer.seconds["embed"] += time.perf_counter() - t


def run_pipeline(org: Any, files: list[bytes], kind: str, timer: StageTimer
                 ) -> tuple[float, int, list[str]]:
    """Upload every file through sources.create_file (jobs run inline); returns
    (seconds, chunks, chunk texts in source order)."""
    from sqlalchemy import select

    from extensions import db
    from models.knowledge import KnowledgeChunk
    from services.knowledge import sources

    timer.reset()
    created = []
    t = time.perf_counter()
    for i, data in enumerate(files):
        source, _job, _dup = sources.create_file(org, data, filename=f"{kind}-{i}", title=None)
        created.append(source.id)
    seconds = time.perf_counter() - t
    texts = []
    for sid in created:
        source = sources.get_source(org, sid)
        if source.status != "ready":
            raise RuntimeError(f"{sid} ended {source.status}: {source.error}")
        texts += list(db.session.execute(
            select(KnowledgeChunk.text).where(KnowledgeChunk.source_id == sid)
            .order_by(KnowledgeChunk.position)).scalars())
    return seconds, len(texts), texts


def run_bulk_api(app: Any, org_id: str, paras: list[str], kind: str
                 ) -> tuple[float, list[str]]:
    """One-paragraph sources through the JSON API in its bulk forms: multi-file upload
    (100 `file` fields per request) or Q&A bulk create (500 pairs per request); every
    request's batched job runs before it returns (JOBS_MODE=sync). Returns (seconds,
    chunk texts of the sources made)."""
    from sqlalchemy import select

    from extensions import db
    from models.knowledge import KnowledgeChunk, KnowledgeSource
    from models.orgs import Organization
    from services.keys import create_key

    # By id: the requests below end sessions, and an instance held across them would be
    # detached.
    secret = create_key(db.session.get(Organization, org_id), name=f"bench-{kind}").secret
    client = app.test_client()
    headers = {"X-API-Key": secret}
    ids: list[str] = []
    t = time.perf_counter()
    if kind == "files":
        for start in range(0, len(paras), 100):
            form = {"file": [(io.BytesIO(p.encode()), f"note-{start + i}.txt")
                             for i, p in enumerate(paras[start:start + 100])]}
            resp = client.post("/api/v1/knowledge/files/", data=form, headers=headers,
                               content_type="multipart/form-data")
            if resp.status_code != 202:
                raise RuntimeError(f"bulk upload answered {resp.status_code}: {resp.json}")
            ids += [item["id"] for item in resp.json["items"]]
    else:
        items = []
        for p in paras:
            question, _, answer = p.partition(". ")
            items.append({"question": question + "?", "answer": answer or p})
        for start in range(0, len(items), 500):
            resp = client.post("/api/v1/knowledge/qas/", json={"items": items[start:start + 500]},
                               headers=headers)
            if resp.status_code != 202:
                raise RuntimeError(f"Q&A bulk answered {resp.status_code}: {resp.json}")
            ids += [item["id"] for item in resp.json["items"]]
    seconds = time.perf_counter() - t
    statuses = set(db.session.execute(select(KnowledgeSource.status).where(
        KnowledgeSource.id.in_(ids))).scalars())
    if statuses != {"ready"}:
        raise RuntimeError(f"bulk {kind} ended {statuses}")
    texts = list(db.session.execute(select(KnowledgeChunk.text).where(
        KnowledgeChunk.source_id.in_(ids))).scalars())
    return seconds, texts


def raw_encode(texts: list[str], model: str, batch_size: int = 64) -> float:
    """The model alone, batched: the rate the pipeline is held against."""
    from services.knowledge.embedder import get_embedder

    embedder = get_embedder(model)
    t = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        embedder.encode(texts[start:start + batch_size])
    return time.perf_counter() - t


def main(paragraphs: int = 2000, docs: int = 20, pdfs: int = 50,
         pdf_pages: tuple[int, int] = (3, 9), results: str | None = None, groups: int = 4,
         argv: list[str] | None = None, sources: int = 1000) -> dict[str, Any]:
    from flask_migrate import upgrade

    from extensions import db
    from factory import create_app
    from services.knowledge import pipeline
    from services.knowledge.embedder import get_embedder
    from services.knowledge.extractors.pdf import extract_pdf
    from services.knowledge.extractors.base import ExtractLimits
    from services.orgs import create_organization

    report = Report("bench.ingest", argv or ["python", "-m", "bench.ingest"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    figures: dict[str, Any] = {}
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/db.sqlite",
                      "INDEX_DIR": str(tmp / "indexes"), "STORAGE_DIR": str(tmp / "storage"),
                      "JOBS_MODE": "sync", "RATELIMIT_STORAGE_URI": "memory://",
                      "ANTHROPIC_API_KEY": None})
    timer = StageTimer()
    try:
        with app.app_context():
            upgrade(revision="heads")
            org = create_organization("bench-ingest")
            org_id = org.id
            t = time.perf_counter()
            embedder = get_embedder(app.config["EMBEDDING_MODEL"])
            embedder.encode(["warm up"])
            load_s = time.perf_counter() - t
            timed = TimedEmbedder(embedder, timer)
            timer.wrap(pipeline, "_extract", "extract")
            timer.wrap(pipeline, "chunk_units", "chunk")
            timer.wrap(pipeline, "_enrich", "enrich")
            timer.wrap(pipeline, "get_embedder", "_")  # replaced just below
            pipeline.get_embedder = lambda _name: timed
            timer.wrap(pipeline, "_swap_chunks", "index + rows")

            text_files = text_documents(paragraphs, docs)
            pdf_files, pages = pdf_documents(pdfs, pdf_pages) if pdfs else ([], 0)
            rows, stage_rows = [], []
            for kind, files in (("text", text_files), ("pdf", pdf_files)):
                if not files:
                    continue
                # Interleaved in `groups` slices (pipeline on a slice, then raw encode of
                # the slice's chunks) so load drift on a shared machine hits both sides.
                seconds = raw_s = 0.0
                texts, stages = [], defaultdict(float)
                step = max(1, -(-len(files) // groups))
                for g, start in enumerate(range(0, len(files), step)):
                    part = files[start:start + step]
                    print(f"== {kind} slice {g + 1}: {len(part)} files through the pipeline",
                          flush=True)
                    s, _n, part_texts = run_pipeline(org, part, f"{kind}{g}", timer)
                    seconds += s
                    for k, v in timer.seconds.items():
                        stages[k] += v
                    print(f"   raw encode of the same {len(part_texts)} chunks", flush=True)
                    raw_s += raw_encode(part_texts, app.config["EMBEDDING_MODEL"])
                    texts += part_texts
                chunks = len(texts)
                stages = dict(stages)
                stages.pop("_", None)
                pipe_cps, raw_cps = chunks / seconds, chunks / raw_s
                words = sum(len(x.split()) for x in texts) / max(1, chunks)
                fig = {"files": len(files), "chunks": chunks, "seconds": round(seconds, 2),
                       "chunks_per_s": round(pipe_cps, 2), "raw_seconds": round(raw_s, 2),
                       "raw_chunks_per_s": round(raw_cps, 2),
                       "ratio": ratio(pipe_cps, raw_cps), "stages": stages,
                       "words_per_chunk": round(words, 1)}
                if kind == "pdf":
                    fig["pages"] = pages
                    fig["pages_per_s"] = round(pages / seconds, 2)
                    t = time.perf_counter()
                    for data in files:
                        extract_pdf(data, ExtractLimits())
                    fig["extract_pages_per_s"] = round(pages / (time.perf_counter() - t), 2)
                figures[kind] = fig
                rows.append([kind, len(files), pages if kind == "pdf" else "-", chunks,
                             round(words, 0), round(seconds, 1), round(pipe_cps, 2),
                             round(raw_cps, 2), ratio(pipe_cps, raw_cps),
                             round(pages / seconds, 2) if kind == "pdf" else "-"])
                other = seconds - sum(stages.values())
                stage_rows.append([kind] + [f"{stages.get(s, 0.0):.1f} s "
                                            f"({100 * stages.get(s, 0.0) / seconds:.0f}%)"
                                            for s in ("extract", "chunk", "enrich", "embed",
                                                      "index + rows")]
                                  + [f"{other:.1f} s ({100 * other / seconds:.0f}%)"])
            bulk_rows = []
            if sources:
                paras = corpus.paragraphs(sources, seed=23)
                half = len(paras) // 2
                total_s = total_raw = 0.0
                total_chunks = 0
                for kind, part in (("files", paras[:half]), ("qas", paras[half:])):
                    print(f"== {len(part)} one-paragraph sources via the bulk API ({kind})",
                          flush=True)
                    s, part_texts = run_bulk_api(app, org_id, part, kind)
                    raw_s = raw_encode(part_texts, app.config["EMBEDDING_MODEL"])
                    total_s, total_raw = total_s + s, total_raw + raw_s
                    total_chunks += len(part_texts)
                    bulk_rows.append([kind, len(part), len(part_texts), round(s, 1),
                                      round(len(part) / s, 2), round(len(part_texts) / s, 2),
                                      round(len(part_texts) / raw_s, 2),
                                      ratio(raw_s, s)])
                bulk_rows.append(["total", len(paras), total_chunks, round(total_s, 1),
                                  round(len(paras) / total_s, 2),
                                  round(total_chunks / total_s, 2),
                                  round(total_chunks / total_raw, 2), ratio(total_raw, total_s)])
                figures["bulk"] = {"sources": len(paras), "seconds": round(total_s, 2),
                                   "raw_seconds": round(total_raw, 2),
                                   "ratio": ratio(total_raw, total_s)}
            db.session.remove()
            db.engine.dispose()
    finally:
        timer.restore()
        shutil.rmtree(tmp, ignore_errors=True)

    if rows:
        report.table(f"Pipeline vs raw encode ({embedder.name}; model load {load_s:.1f} s, "
                     f"excluded; batch 64 both sides)",
                     ["corpus", "files", "pages", "chunks", "words/chunk", "pipeline s",
                      "pipeline chunks/s", "raw encode chunks/s", "ratio", "PDF pages/s"], rows)
        report.table("Where the pipeline's time goes", ["corpus", "extract", "chunk", "enrich",
                                                         "embed", "index + rows",
                                                         "other (upload, sniff, jobs, commits)"],
                     stage_rows)
    if "pdf" in figures:
        report.note(f"PDF text extraction alone (pdfplumber): "
                    f"{figures['pdf']['extract_pages_per_s']} pages/s.")
    if rows:
        report.note("target: text pipeline >= 0.85 of raw encode chunks/s.")
    if bulk_rows:
        report.table("One-paragraph sources through the API's bulk forms, ready, vs raw "
                     "encode of the same chunks (issue 12 target: ratio >= 0.7)",
                     ["via", "sources", "chunks", "seconds", "sources/s", "chunks/s",
                      "raw encode chunks/s", "ratio"], bulk_rows)
    figures["load_s"] = load_s
    report.write(results_path(results))
    figures["report"] = report
    return figures


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paragraphs", type=int, default=2000)
    p.add_argument("--docs", type=int, default=20, help="text files the paragraphs go into")
    p.add_argument("--pdfs", type=int, default=50)
    p.add_argument("--pdf-pages", default="3,9", help="min,max pages per PDF")
    p.add_argument("--groups", type=int, default=4,
                   help="interleave pipeline and raw encode in this many slices")
    p.add_argument("--sources", type=int, default=1000,
                   help="one-paragraph sources through the bulk API (half files, half Q&A)")
    p.add_argument("--results", default=None)
    a = p.parse_args(argv)
    lo, hi = (int(x) for x in a.pdf_pages.split(","))
    main(a.paragraphs, a.docs, a.pdfs, (lo, hi), a.results, a.groups,
         argv=["python", "-m", "bench.ingest", *(argv if argv is not None else sys.argv[1:])],
         sources=a.sources)


if __name__ == "__main__":
    cli()
