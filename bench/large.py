"""Large sources: a 24 MiB text and a 500-page PDF through the real pipeline, timing every
job they make against JOB_TIMEOUT_SECONDS.

    python -m bench.large                          # 24 MiB text + 500-page PDF (~30 min)
    python -m bench.large --text-mib 4 --pdf-pages 100

Each file goes in through `sources.create_file` on an embedded app whose jobs run on one
in-process thread (JOBS_MODE=thread, JOB_THREADS=1), so every job's start and end are
real: the first job extracts (PDF pages stream, reporting progress), chunks, enriches,
stages the chunks and embeds its first piece; each later job embeds one piece of at most
INGEST_PIECE_SECONDS and queues the next. The target (issue 12): every job finishes well
inside the timeout; the source ends `ready`.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import corpus
from bench.common import Report, results_path


def big_text(mib: float, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    parts, size = [], 0
    while size < mib * 2**20:
        para = corpus.paragraph(rng) + "\n\n"
        parts.append(para)
        size += len(para.encode())
    return "".join(parts).encode()


def big_pdf(pages: int) -> bytes:
    from bench.ingest import pdf_documents

    files, _total = pdf_documents(1, (pages, pages))
    return files[0]


def measure(app: Any, org: Any, name: str, data: bytes) -> dict[str, Any]:
    from sqlalchemy import select

    from extensions import db
    from models.jobs import Job
    from services.jobs import wait_for_idle
    from services.knowledge import sources

    print(f"== {name}: {len(data) / 2**20:.1f} MiB", flush=True)
    t = time.perf_counter()
    source, job, _dup = sources.create_file(org, data, filename=name, title=None)
    wait_for_idle(app, timeout=4 * 3600)
    total = time.perf_counter() - t
    db.session.expire_all()
    source = sources.get_source(org, source.id)
    jobs = list(db.session.execute(select(Job).where(
        Job.org_id == org.id, Job.created_at >= job.created_at).order_by(Job.created_at)
    ).scalars())
    durations = [(j.finished_at - j.started_at).total_seconds() for j in jobs
                 if j.started_at and j.finished_at]
    return {"name": name, "mib": round(len(data) / 2**20, 2), "status": source.status,
            "error": source.error, "chunks": source.chunk_count, "jobs": len(jobs),
            "first_job_s": round(durations[0], 1) if durations else None,
            "max_job_s": round(max(durations), 1) if durations else None,
            "total_s": round(total, 1),
            "truncated": bool((source.details or {}).get("truncated"))}


def main(text_mib: float = 24, pdf_pages: int = 500, results: str | None = None,
         argv: list[str] | None = None) -> dict[str, Any]:
    from flask_migrate import upgrade

    from factory import create_app
    from services.knowledge.embedder import get_embedder
    from services.orgs import create_organization

    report = Report("bench.large", argv or ["python", "-m", "bench.large"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-large-"))
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/db.sqlite",
                      "INDEX_DIR": str(tmp / "indexes"), "STORAGE_DIR": str(tmp / "storage"),
                      "JOBS_MODE": "thread", "JOB_THREADS": 1,
                      "RATELIMIT_STORAGE_URI": "memory://", "ANTHROPIC_API_KEY": None})
    rows: list[dict[str, Any]] = []
    try:
        with app.app_context():
            upgrade(revision="heads")
            org = create_organization("bench-large")
            get_embedder(app.config["EMBEDDING_MODEL"]).encode(["warm up"])
            if text_mib:
                rows.append(measure(app, org, "big.txt", big_text(text_mib)))
            if pdf_pages:
                rows.append(measure(app, org, "manual.pdf", big_pdf(pdf_pages)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    timeout = app.config["JOB_TIMEOUT_SECONDS"]
    report.table(f"Large sources: every job against the {timeout} s job timeout "
                 f"(pieces of {app.config['INGEST_PIECE_SECONDS']:.0f} s of embedding)",
                 ["file", "MiB", "status", "chunks", "jobs", "first job s", "longest job s",
                  "total s", "longest job / timeout", "truncated at 5M chars"],
                 [[r["name"], r["mib"], r["status"], r["chunks"], r["jobs"], r["first_job_s"],
                   r["max_job_s"], r["total_s"],
                   round(r["max_job_s"] / timeout, 3) if r["max_job_s"] else "n/a",
                   "yes" if r["truncated"] else "no"] for r in rows])
    for r in rows:
        if r["error"]:
            report.note(f"{r['name']}: {r['error']}")
    report.figures["rows"] = rows
    return report.write(results_path(results))


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--text-mib", type=float, default=24)
    p.add_argument("--pdf-pages", type=int, default=500)
    p.add_argument("--results", default=None)
    a = p.parse_args(argv)
    main(a.text_mib, a.pdf_pages, a.results,
         ["python", "-m", "bench.large", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    cli()
