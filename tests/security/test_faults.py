"""Item 6 — faults. The shared PostgreSQL and Redis are never touched: each fault test
starts its OWN throwaway PostgreSQL cluster (initdb into a temp dir, free port) or its own
redis-server, points a fresh create_app at it, and kills/restarts that.

Documented behaviour checked here:
- PostgreSQL down → every keyed request is 503 `service_unavailable` with Retry-After (no
  500, no traceback); when it is back the same app serves again, no restart.
- Redis down → the limiter fails CLOSED: 503 `service_unavailable` with Retry-After (an
  API without rate limits is the riskier failure); back when Redis is back.
- An RQ worker killed mid-job → the sweeper fails the job and its source (nothing stays
  `processing`), the source keeps serving its last good index, and a retry succeeds.
- A commit failing after the vectors were written (and a crash that leaves orphan vectors)
  never lets search return a vector without its chunk row; a retry succeeds.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.common import child_pids
from services.request_log import get_writer
from tests.factories import make_tenant
from tests.knowledge.helpers import ingest, search

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) \
    if Path("/usr/lib/postgresql").exists() else None


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    return (["runuser", "-u", "postgres", "--"] + args) if os.geteuid() == 0 else args


class ThrowawayPostgres:
    """A private cluster: initdb into a temp dir, start/stop with pg_ctl on a free port."""

    def __init__(self) -> None:
        assert PG_BIN is not None, "PostgreSQL server binaries not installed"
        self.dir = Path(tempfile.mkdtemp(prefix="companin-faults-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A",
                                     "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(_as_postgres([
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start"]), check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                     "-w", "stop"]), check=False, capture_output=True)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayRedis:
    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis

        deadline = time.monotonic() + 10
        while True:
            try:
                if Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except Exception:  # noqa: BLE001 - not up yet
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    pg = ThrowawayPostgres()
    pg.start()
    yield pg
    pg.destroy()


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    r = ThrowawayRedis()
    r.start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _restore_limiter_storage(restore_limiter):  # noqa: ANN001 - see tests/conftest.py
    yield


def _assert_503(resp) -> None:  # noqa: ANN001
    assert resp.status_code == 503, (resp.status_code, resp.get_data()[:500])
    body = resp.get_data(as_text=True)
    assert resp.json["error"]["code"] == "service_unavailable"
    assert "Traceback" not in body and "psycopg" not in body and "redis" not in body.lower()
    assert int(resp.headers["Retry-After"]) > 0


@pytest.mark.services
def test_postgresql_restarted_mid_run_is_503_then_recovers_without_app_restart(own_postgres):
    from flask_migrate import upgrade

    from factory import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": own_postgres.url,
                      "RATELIMIT_STORAGE_URI": "memory://", "JOBS_MODE": "sync"})
    with app.app_context():
        upgrade(revision="heads")
    tenant = make_tenant(app, "Faulty DB")
    assert tenant.get("/api/v1/assistants/").status_code == 200
    assert tenant.post("/api/v1/assistants/", json={"name": "Before"}).status_code == 201

    own_postgres.stop("fast")  # the server goes away under a running app
    for method, path, kw in (("GET", "/api/v1/assistants/", {}),
                             ("POST", "/api/v1/assistants/", {"json": {"name": "During"}}),
                             ("GET", "/analytics/usage/", {})):
        _assert_503(tenant._call(method, path, **kw))

    own_postgres.start()
    deadline = time.monotonic() + 20
    while (resp := tenant.get("/api/v1/assistants/")).status_code != 200:
        assert resp.status_code == 503 and time.monotonic() < deadline
        time.sleep(0.5)
    assert [a["name"] for a in resp.json["items"]] == ["Before"]  # nothing half-written
    assert tenant.post("/api/v1/assistants/", json={"name": "After"}).status_code == 201
    # The request-log rows of the outage were kept and are written now: nothing is left
    # queued (a writer left holding rows for this throwaway cluster would retry, and log
    # a traceback, for the rest of the run).
    writer = get_writer(app)
    assert writer.flush() and writer.stats()["queued"] == 0
    with app.app_context():
        from extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.mark.services
def test_redis_down_fails_closed_with_503_and_recovers(app, own_redis):
    """Decision: with its storage gone the limiter cannot count, so keyed calls are refused
    (503 + Retry-After) rather than served unlimited; the console and the public OpenAPI
    document stay up."""
    from factory import create_app

    limited = create_app({"TESTING": True, "REDIS_URL": own_redis.url,
                          "RATELIMIT_STORAGE_URI": own_redis.url,
                          "RATELIMIT_KEY_PREFIX": f"faults-{own_redis.port}",
                          "JOBS_MODE": "sync"})
    tenant = make_tenant(app, "Faulty Redis")
    client = limited.test_client()
    ok = client.get("/api/v1/assistants/", headers=tenant.headers)
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Limit"]

    own_redis.stop()
    for _ in range(3):
        _assert_503(client.get("/api/v1/assistants/", headers=tenant.headers))
    resp = client.post("/api/v1/assistants/", headers=tenant.headers, json={"name": "x"})
    _assert_503(resp)
    assert client.get("/api/v1/openapi.json").status_code == 200  # unkeyed: not limited
    assert client.get("/api/v1/assistants/").status_code == 401  # auth still answers first
    from extensions import db
    from models.assistants import Assistant

    with app.app_context():  # the refused POST never ran
        assert db.session.query(Assistant).filter(Assistant.org_id == tenant.org_id).count() == 0

    own_redis.start()
    deadline = time.monotonic() + 20
    while (resp := client.get("/api/v1/assistants/", headers=tenant.headers)).status_code != 200:
        assert resp.status_code == 503 and time.monotonic() < deadline
        time.sleep(0.3)
    assert int(resp.headers["X-RateLimit-Remaining"]) >= 0


class _SlowSite:
    """A page that can be made to hang (the fetch a worker is busy with when killed)."""

    def __init__(self) -> None:
        self.text = "Store hours: the Lisbon shop opens at nine every weekday."
        self.delay = 0.0
        self.release = threading.Event()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hours"

    def _handler(self):  # noqa: ANN202
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                site.release.wait(site.delay)
                body = (f"<html><head><title>Hours</title></head><body><article>"
                        f"<p>{site.text}</p></article></body></html>").encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):  # noqa: ANN002
                pass

        return Handler

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _start_worker(redis_url: str, queue: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "REDIS_URL": redis_url, "RQ_QUEUE": queue, "JOBS_MODE": "rq",
           "URL_FETCH_TIMEOUT_SECONDS": "300", "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:  # the README's worker: every queue shard, round-robin
        flask_bin = str(Path(sys.executable).parent / "flask")
        return subprocess.Popen([flask_bin, "--app", "wsgi", "jobs", "worker"], cwd=str(ROOT),
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.mark.services
@pytest.mark.slow
def test_rq_worker_killed_mid_job_is_swept_and_the_source_keeps_its_last_good_index(
        app, own_redis, tmp_path):
    from factory import create_app

    queue = f"faults-{own_redis.port}"
    jobs_app = create_app({"TESTING": True, "REDIS_URL": own_redis.url, "RQ_QUEUE": queue,
                           "JOBS_MODE": "rq", "RATELIMIT_STORAGE_URI": "memory://",
                           "JOB_STALE_SECONDS": 3, "URL_FETCH_ALLOW_LOOPBACK": True,
                           "JOB_SWEEP_INTERVAL_SECONDS": 3600})  # this test sweeps itself
    tenant = make_tenant(app, "Killed worker")
    tenant.client = jobs_app.test_client()
    site = _SlowSite()
    log = tmp_path / "worker.log"
    worker = _start_worker(own_redis.url, queue, log)
    try:
        created = tenant.post("/api/v1/knowledge/urls/", json={"url": site.url}).json
        source_url = f"/api/v1/knowledge/urls/{created['id']}"
        _wait(lambda: tenant.get(source_url).json["status"] == "ready", 180, "first ingest")
        assert search(tenant, "when does the Lisbon shop open")[0]["source_id"] == created["id"]

        site.delay, site.text = 600, "Store hours changed: the shop now opens at ten."
        first_job = tenant.get(source_url).json["job_id"]
        job_id = tenant.post(f"{source_url}/refresh").json["job_id"]
        assert job_id != first_job  # the 202 names the refresh job, not the last one
        _wait(lambda: tenant.get(f"/api/v1/jobs/{job_id}").json["status"] == "running"
              and tenant.get(source_url).json["status"] == "processing", 90,
              "the refresh job to start fetching")  # the job row turns running a moment first
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-fetch
        worker.wait(timeout=10)
        assert tenant.get(f"/api/v1/jobs/{job_id}").json["status"] == "running"
        assert tenant.get(source_url).json["status"] == "processing"

        time.sleep(4)  # older than JOB_STALE_SECONDS
        result = jobs_app.test_cli_runner().invoke(args=["jobs", "sweep"])
        assert result.exit_code == 0 and job_id in result.output
        job = tenant.get(f"/api/v1/jobs/{job_id}").json
        assert job["status"] == "failed" and "stopped responding" in job["error"]
        src = tenant.get(source_url).json
        assert src["status"] == "failed" and src["chunk_count"] >= 1
        hits = search(tenant, "when does the Lisbon shop open")
        assert hits and hits[0]["source_id"] == created["id"] and "nine" in hits[0]["text"]
        from extensions import db
        from models.jobs import Job
        from models.knowledge import KnowledgeSource

        with app.app_context():
            assert db.session.query(KnowledgeSource).filter(
                KnowledgeSource.status == "processing").count() == 0
            assert db.session.query(Job).filter(Job.status == "running").count() == 0

        site.delay = 0  # the page answers again: a retry on a fresh worker succeeds
        worker = _start_worker(own_redis.url, queue, log)
        retry = tenant.post(f"/api/v1/jobs/{job_id}/retry")
        assert retry.status_code == 202
        _wait(lambda: tenant.get(f"/api/v1/jobs/{retry.json['id']}").json["status"]
              in ("succeeded", "failed"), 180, "the retry")
        assert tenant.get(f"/api/v1/jobs/{retry.json['id']}").json["status"] == "succeeded"
        assert "ten" in search(tenant, "when does the shop open now")[0]["text"]
    except AssertionError:
        print(log.read_text()[-4000:])  # the worker's side of the story
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        site.close()


CRASH = "CRASHMARKER"


@contextlib.contextmanager
def commit_fails_for_chunks_containing(app, marker: str) -> Iterator[None]:  # noqa: ANN001
    """A database-side failure for chunk rows with `marker`: on PostgreSQL a deferred
    constraint trigger, so the COMMIT itself fails; on SQLite the insert is aborted."""
    from sqlalchemy import text

    from extensions import db

    with app.app_context():
        dialect = db.engine.dialect.name
        with db.engine.begin() as conn:
            if dialect == "postgresql":
                conn.execute(text(
                    "CREATE OR REPLACE FUNCTION companin_test_commit_fails() RETURNS trigger "
                    "AS $$ BEGIN IF NEW.text LIKE '%" + marker + "%' THEN RAISE EXCEPTION "
                    "'simulated failure at commit'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"))
                conn.execute(text(
                    "CREATE CONSTRAINT TRIGGER companin_test_commit_fails AFTER INSERT ON "
                    "knowledge_chunks DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE "
                    "FUNCTION companin_test_commit_fails()"))
            else:
                conn.execute(text(
                    "CREATE TRIGGER companin_test_commit_fails BEFORE INSERT ON "
                    "knowledge_chunks WHEN NEW.text LIKE '%" + marker + "%' BEGIN "
                    "SELECT RAISE(ABORT, 'simulated failure at commit'); END"))
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as conn:
            if dialect == "postgresql":
                conn.execute(text("DROP TRIGGER IF EXISTS companin_test_commit_fails ON "
                                  "knowledge_chunks"))
                conn.execute(text("DROP FUNCTION IF EXISTS companin_test_commit_fails()"))
            else:
                conn.execute(text("DROP TRIGGER IF EXISTS companin_test_commit_fails"))


def test_commit_failing_after_the_index_write_leaves_a_consistent_state(app, tenant,
                                                                        run_jobs):
    from tests.knowledge.helpers import vector_count

    good = ingest(tenant, run_jobs, b"Gift cards never expire and work in every shop.", "g.txt")
    assert good["status"] == "ready"
    before = vector_count(app, tenant.org_id)
    doc = f"The {CRASH} warranty covers bicycle frames for ten years.".encode()
    with commit_fails_for_chunks_containing(app, CRASH):
        resp = tenant.post("/api/v1/knowledge/files/", content_type="multipart/form-data",
                           data={"file": (__import__("io").BytesIO(doc), "w.txt")})
        assert resp.status_code == 202
        run_jobs()
        src = tenant.get(f"/api/v1/knowledge/files/{resp.json['id']}").json
        assert src["status"] == "failed" and src["error"] and src["chunk_count"] == 0
        assert tenant.get(f"/api/v1/jobs/{src['job_id']}").json["status"] == "failed"
        # the vectors written before the failed commit were taken out again
        assert vector_count(app, tenant.org_id) == before
        assert all(h["source_id"] != src["id"] for h in search(tenant, "bicycle warranty"))
        assert search(tenant, "do gift cards expire")[0]["source_id"] == good["id"]
    retry = tenant.post(f"/api/v1/jobs/{src['job_id']}/retry")
    assert retry.status_code == 202
    run_jobs()
    assert tenant.get(f"/api/v1/knowledge/files/{src['id']}").json["status"] == "ready"
    assert search(tenant, "bicycle frame warranty")[0]["source_id"] == src["id"]


def test_orphan_vectors_left_by_a_crash_before_commit_are_never_served(app, tenant,
                                                                        run_jobs):
    """A process killed between VectorIndexStore.add and the commit leaves vectors with no
    chunk row (nothing ran to take them out): search must never return them."""
    from services.knowledge.embedder import encode_query
    from services.knowledge.pipeline import new_vector_ids
    from services.knowledge.vectors import vector_store

    good = ingest(tenant, run_jobs, b"Our workshop repairs bicycles on Saturdays.", "b.txt")
    orphan_text = "Secret clearance sale: every bicycle is half price on Sunday."
    with app.app_context():
        store = vector_store()
        vec = encode_query(orphan_text, app.config["EMBEDDING_MODEL"]).reshape(1, -1)
        orphan_ids = new_vector_ids(3)
        store.add(tenant.org_id, orphan_ids, vec.repeat(3, axis=0))  # step 1, then "crash"
        assert store.count(tenant.org_id) >= 4
    hits = search(tenant, orphan_text, top_k=50)
    assert hits and all(h["source_id"] == good["id"] for h in hits)
    assert all("half price" not in h["text"] for h in hits)
    # the next write of the org's index keeps working with the orphans present
    again = ingest(tenant, run_jobs, b"Sunday sale: helmets are half price.", "s.txt")
    assert again["status"] == "ready"
    assert search(tenant, "half price helmets")[0]["source_id"] == again["id"]


@pytest.mark.services
@pytest.mark.slow
def test_a_killed_worker_leaves_no_scheduler_behind_and_its_successor_schedules(
        own_redis, tmp_path):
    """kill -9 of a worker used to leave its scheduler child renewing the lock, so the
    restarted worker ran without a scheduler (and backoff retries never ran)."""
    import redis

    queue = f"sched-{own_redis.port}"
    conn = redis.Redis.from_url(own_redis.url)
    key = f"rq:scheduler-lock:{queue}-0"
    log = tmp_path / "worker.log"
    first = worker = _start_worker(own_redis.url, queue, log)
    try:
        _wait(lambda: conn.get(key) is not None, 90, "the scheduler lock")
        # The worker takes the lock, then forks the scheduler child: killed in between,
        # no child exists to let go, and the lock only expires (RQ's TTL, about a minute).
        _wait(lambda: bool(child_pids(first.pid)), 30, "the scheduler child")
        holder = conn.get(key)
        os.kill(first.pid, signal.SIGKILL)  # the worker alone, not its process group
        first.wait(timeout=10)
        _wait(lambda: conn.get(key) is None, 20, "the orphaned scheduler to let go")
        worker = _start_worker(own_redis.url, queue, log)
        _wait(lambda: conn.get(key) not in (None, holder), 90, "the new worker's scheduler")
    except AssertionError:
        print(log.read_text()[-4000:])
        raise
    finally:
        for proc in {first, worker}:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
