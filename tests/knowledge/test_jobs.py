"""Jobs are observable and never stuck; indexes are shared between processes."""
from __future__ import annotations

from datetime import timedelta

import pytest
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


# ----------------------------------------------------------------- never stuck (outbox)
def _backdate_queued(app, job_id: str, seconds: int = 120) -> None:  # noqa: ANN001
    from extensions import db
    from models.jobs import Job
    from models.types import utcnow

    with app.app_context():
        db.session.execute(update(Job).where(Job.id == job_id).values(
            status="queued", created_at=utcnow() - timedelta(seconds=seconds),
            started_at=None, finished_at=None, heartbeat_at=None, error=None))
        db.session.commit()


def _job(tenant, job_id: str) -> dict:  # noqa: ANN001
    return tenant.get(f"/api/v1/jobs/{job_id}").json


def _thread_app():  # noqa: ANN202
    """A second process of the embedded default: same database, in-process job threads."""
    from factory import create_app

    return create_app({"TESTING": True, "JOBS_MODE": "thread"})


def test_embedded_restart_resumes_jobs_left_queued(app, tenant, run_jobs):
    """The previous process queued work and stopped: the next one runs it on its first
    request, without anyone retrying anything."""
    from services.jobs import wait_for_idle

    src = ingest(tenant, run_jobs, b"Parcels to Sardinia take four working days.", "s.txt")
    _backdate_queued(app, src["job_id"], seconds=1)  # as if it never ran
    restarted = _thread_app()
    restarted.test_client().get("/console/login")
    wait_for_idle(restarted)
    assert _job(tenant, src["job_id"])["status"] == "succeeded"
    assert search(tenant, "Sardinia parcels")[0]["source_id"] == src["id"]


def test_a_queued_job_whose_dispatch_was_lost_is_redispatched_by_the_sweeper(
        app, tenant, run_jobs):
    """Services mode: the RQ entry vanished (Redis flushed, or down at commit time);
    embedded: the thread that should run it is gone. Either way `jobs sweep` sends it
    again and it completes."""
    from services.jobs import get_queues, wait_for_idle

    src = ingest(tenant, run_jobs, b"Our shop in Milan opens at nine.", "m.txt")
    if app.config["JOBS_MODE"] == "rq":
        target = app
        _backdate_queued(app, src["job_id"])
        with app.app_context():
            for queue in get_queues(app):
                queue.empty()
    else:
        target = _thread_app()
        target.test_client().get("/console/login")  # its start-up resume (nothing queued)
        _backdate_queued(app, src["job_id"])
    result = target.test_cli_runner().invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0 and src["job_id"] in result.output, result.output
    if target is app:
        run_jobs()
    else:
        wait_for_idle(target)
    assert _job(tenant, src["job_id"])["status"] == "succeeded"


def test_deduplication_never_attaches_to_a_job_that_will_not_run(app, tenant, run_jobs):
    """A refresh of a source whose queued job was lost re-dispatches that job instead of
    returning it to wait forever."""
    from services.jobs import wait_for_idle

    src = ingest(tenant, run_jobs, b"Warranty: two years on every kettle.", "w.txt")
    _backdate_queued(app, src["job_id"], seconds=1)
    other = _thread_app() if app.config["JOBS_MODE"] != "rq" else app
    with other.app_context():
        from services.jobs import enqueue

        job = enqueue(tenant.org_id, "ingest_source", target_id=src["id"],
                      params={"source_ids": [src["id"]]})
        assert job.id == src["job_id"]  # the pending job, not a second one
    if other is app:
        run_jobs()
    else:
        wait_for_idle(other)
    assert _job(tenant, src["job_id"])["status"] == "succeeded"


def test_a_job_past_its_timeout_is_failed_with_the_reason_and_can_be_retried(
        app, tenant, run_jobs):
    from extensions import db
    from models.jobs import Job
    from models.types import utcnow

    src = ingest(tenant, run_jobs, b"Gift wrapping costs two euros.", "g.txt")
    long_ago = utcnow() - timedelta(seconds=app.config["JOB_TIMEOUT_SECONDS"] + 120)
    with app.app_context():  # still beating, but running far past the limit
        db.session.execute(update(Job).where(Job.id == src["job_id"]).values(
            status="running", started_at=long_ago, heartbeat_at=utcnow(), finished_at=None))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "sweep"])
    assert src["job_id"] in result.output
    job = _job(tenant, src["job_id"])
    assert job["status"] == "failed" and "time limit" in job["error"]
    retry = tenant.post(f"/api/v1/jobs/{src['job_id']}/retry")
    assert retry.status_code == 202
    run_jobs()
    assert _job(tenant, retry.json["id"])["status"] == "succeeded"


def test_a_running_job_beats_its_heartbeat_without_reporting_progress(app, tenant):
    """A long silent step must not look like a dead worker."""
    import time

    from extensions import db
    from jobs import REGISTRY
    from models.jobs import Job
    from services.jobs import enqueue

    def slow(row, progress) -> None:  # noqa: ANN001
        time.sleep(0.6)

    REGISTRY["test_slow"] = slow
    try:
        with app.app_context():
            app.config["JOB_HEARTBEAT_SECONDS"] = 0.1
            if app.config["JOBS_MODE"] == "rq":
                pytest.skip("RQ workers import the registry themselves; covered in-process")
            job = enqueue(tenant.org_id, "test_slow", target_id=None)
            if app.config["JOBS_MODE"] == "thread":
                from services.jobs import wait_for_idle

                wait_for_idle(app)
            row = db.session.get(Job, job.id)
            db.session.refresh(row)
            assert row.status == "succeeded"
            assert row.heartbeat_at > row.started_at
    finally:
        app.config["JOB_HEARTBEAT_SECONDS"] = 10.0
        REGISTRY.pop("test_slow", None)


# ------------------------------------------------------------------------------ fairness
def test_one_organizations_backlog_does_not_hold_back_another(app, tenant, run_jobs):
    """Services mode: organizations' jobs wait in their own queue shard and the worker
    serves the shards round-robin, so another organization's small upload runs right
    after the job in progress, not after the whole backlog."""
    from extensions import db
    from models.jobs import Job
    from services.jobs import shard_of
    from tests.factories import make_tenant

    if app.config["JOBS_MODE"] != "rq":
        pytest.skip("services mode only: queue shards are RQ queues (embedded: threads)")
    shards = app.config["RQ_QUEUE_SHARDS"]
    other = make_tenant(app, "Other org")
    n = 0
    while shard_of(other.org_id, shards) == shard_of(tenant.org_id, shards):
        n += 1
        other = make_tenant(app, f"Other org {n}")
    backlog = [upload(tenant, f"Backlog document {i}: returns and refunds.".encode() * 40,
                      f"b{i}.txt").json["job_id"] for i in range(6)]
    small = upload(other, b"Opening hours: nine to six.", "hours.txt").json["job_id"]
    run_jobs()
    with app.app_context():
        started = {j.id: j.started_at for j in db.session.query(Job).filter(
            Job.id.in_([*backlog, small]))}
    order = sorted(started, key=lambda job_id: started[job_id])
    assert order.index(small) <= 1, order  # at most one backlog job ran before it


def test_embedded_threads_run_a_small_job_beside_a_long_one(app, tenant, run_jobs):
    """Embedded mode: two job threads, so one long job does not hold back the rest."""
    import threading

    from jobs import REGISTRY
    from services.jobs import enqueue, wait_for_idle

    release = threading.Event()
    REGISTRY["test_long"] = lambda row, progress: release.wait(30)
    threaded = _thread_app()
    try:
        with threaded.app_context():
            enqueue(tenant.org_id, "test_long")
            src = upload(tenant, b"Kettles carry a two-year warranty.", "k.txt").json
            # the small job finishes while the long one still runs
            from extensions import db
            from models.jobs import Job

            job = enqueue(tenant.org_id, "ingest_source", target_id=src["id"],
                          params={"source_ids": [src["id"]]}, dedupe=False)
            import time

            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                db.session.expire_all()
                if db.session.get(Job, job.id).status == "succeeded":
                    break
                time.sleep(0.05)
            assert db.session.get(Job, job.id).status == "succeeded"
            assert not release.is_set()
    finally:
        release.set()
        wait_for_idle(threaded)
        REGISTRY.pop("test_long", None)
