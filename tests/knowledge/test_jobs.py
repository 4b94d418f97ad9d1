"""Jobs are observable and never stuck; indexes are shared between processes."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.knowledge.helpers import ingest, search, upload


def _simulate_dead_worker(app, job_id: str, source_id: str) -> None:  # noqa: ANN001
    """What a killed worker leaves behind: a running job with a stale heartbeat."""
    from extensions import db
    from models.jobs import Job
    from models.knowledge import KnowledgeSource
    from models.types import utcnow

    stale = utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 60)
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == job_id).values(
            status="running", heartbeat_at=stale, started_at=stale, finished_at=None,
            error=None))
        db.session.execute(update(KnowledgeSource).where(KnowledgeSource.id == source_id)
                           .values(status="processing"))
        db.session.commit()


def test_job_killed_midway_is_failed_by_sweeper_and_retry_succeeds(app, tenant, run_jobs):
    src = ingest(tenant, run_jobs, b"Gift cards never expire and work in every shop.", "g.txt")
    _simulate_dead_worker(app, src["job_id"], src["id"])
    result = app.test_cli_runner().invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0 and src["job_id"] in result.output
    job = tenant.get(f"/api/v1/jobs/{src['job_id']}").json
    assert job["status"] == "failed" and "stopped responding" in job["error"]
    failed = tenant.get(f"/api/v1/knowledge/files/{src['id']}").json
    assert failed["status"] == "failed"
    # the previous good chunks still serve
    assert search(tenant, "do gift cards expire")[0]["source_id"] == src["id"]
    retry = tenant.post(f"/api/v1/jobs/{src['job_id']}/retry")
    assert retry.status_code == 202
    run_jobs()
    assert tenant.get(f"/api/v1/jobs/{retry.json['id']}").json["status"] == "succeeded"
    assert tenant.get(f"/api/v1/knowledge/files/{src['id']}").json["status"] == "ready"
    again = tenant.post(f"/api/v1/jobs/{retry.json['id']}/retry")
    assert again.status_code == 409


def test_new_work_sweeps_stale_jobs_first(app, tenant, run_jobs):
    src = ingest(tenant, run_jobs, b"Returns are free within 30 days.", "r.txt")
    _simulate_dead_worker(app, src["job_id"], src["id"])
    upload(tenant, b"Another document about store opening hours.", "o.txt")
    run_jobs()
    assert tenant.get(f"/api/v1/jobs/{src['job_id']}").json["status"] == "failed"


def test_index_rebuilt_in_one_process_is_seen_by_another(app, tenant, run_jobs):
    from factory import create_app

    other = create_app({"TESTING": True})  # its own FAISS store and cache
    client = other.test_client()
    first = client.post("/api/v1/knowledge/search", headers=tenant.headers,
                        json={"query": "bicycle repair"}).json["items"]
    assert first == []
    src = ingest(tenant, run_jobs, b"Our workshop repairs bicycles on Saturdays.", "b.txt")
    hits = client.post("/api/v1/knowledge/search", headers=tenant.headers,
                       json={"query": "bicycle repair"}).json["items"]
    assert hits and hits[0]["source_id"] == src["id"]
    tenant.delete(f"/api/v1/knowledge/files/{src['id']}")
    hits = client.post("/api/v1/knowledge/search", headers=tenant.headers,
                       json={"query": "bicycle repair"}).json["items"]
    assert hits == []
