"""Test wiring: a real database (SQLite file, or a throwaway PostgreSQL database), real
Redis when TEST_REDIS_URL is set, migrations run from empty, tables emptied between tests.

Modes (chosen by .ci/run through `make test`):
- embedded: nothing set → SQLite in a temp dir, in-memory limiter, jobs run inline (sync).
- services: TEST_DATABASE_URL (a PostgreSQL server URL) + TEST_REDIS_URL → a database
  created for this run and dropped after it, a Redis key prefix and RQ queue unique to the
  run, jobs executed by a real RQ worker (SimpleWorker, burst) in `run_jobs()`.
"""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

RUN_ID = secrets.token_hex(4)
_TMP = Path(tempfile.mkdtemp(prefix=f"companin-test-{RUN_ID}-"))
os.environ["INSTANCE_DIR"] = str(_TMP / "instance")
os.environ["SECRET_KEY"] = "test-secret-" + RUN_ID
os.environ["URL_FETCH_ALLOW_LOOPBACK"] = "1"  # test-only: pages come from a local server
# Every console test signs in from 127.0.0.1; the throttle has its own test (3/minute).
os.environ["LOGIN_RATE_LIMIT"] = "10000/minute"
os.environ["ANON_RATE_LIMIT"] = "100000/minute"  # keyless calls abound; the throttle's own test
os.environ["WEBHOOK_RETRY_SECONDS"] = "0,0,0"  # retries come due at once
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
for var in ("DATABASE_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "JOBS_MODE"):
    os.environ.pop(var, None)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()
SERVICES = bool(TEST_DATABASE_URL and TEST_REDIS_URL)
_PG_DB_NAME = f"companin_test_{RUN_ID}"


def _admin_pg_url() -> str:
    from config import normalize_database_url

    return normalize_database_url(TEST_DATABASE_URL)


def _create_pg_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(_admin_pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{_PG_DB_NAME}"'))
    admin.dispose()
    return make_url(_admin_pg_url()).set(database=_PG_DB_NAME).render_as_string(
        hide_password=False)


def _drop_pg_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(_admin_pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": _PG_DB_NAME})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{_PG_DB_NAME}"'))
    admin.dispose()


if SERVICES:
    os.environ["DATABASE_URL"] = _create_pg_database()
    os.environ["REDIS_URL"] = TEST_REDIS_URL
    os.environ["RATELIMIT_KEY_PREFIX"] = f"companin-test-{RUN_ID}"
    os.environ["RQ_QUEUE"] = f"companin-test-{RUN_ID}"
    os.environ["JOBS_MODE"] = "rq"
    os.environ["JOB_RETRY_INTERVALS"] = "0,0,0"  # retries re-enqueue at once for the worker
    os.environ["REQUEST_LOG_FLUSH_SECONDS"] = "0"  # rows visible as soon as a call returns
    # The browser tests talk plain HTTP to 127.0.0.1 (the default is Secure in services mode).
    os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
else:  # TEST_JOBS_MODE=thread runs the job tests on the embedded default's threads
    os.environ["JOBS_MODE"] = os.environ.get("TEST_JOBS_MODE", "sync")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "services: needs PostgreSQL + Redis")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SERVICES:
        return
    skip = pytest.mark.skip(reason="services mode only (TEST_DATABASE_URL + TEST_REDIS_URL)")
    for item in items:
        if item.get_closest_marker("services") or item.get_closest_marker("soak"):
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if SERVICES:
        try:
            from redis import Redis

            r = Redis.from_url(TEST_REDIS_URL)
            for key in r.scan_iter(f"*companin-test-{RUN_ID}*"):
                r.delete(key)
        except Exception:
            pass
        try:
            _drop_pg_database()
        except Exception:
            pass
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def app():
    from flask_migrate import upgrade

    from factory import create_app

    application = create_app({"TESTING": True, "URL_FETCH_ALLOW_LOOPBACK": True})
    with application.app_context():
        upgrade(revision="heads")
    yield application
    from services.webhooks import shutdown

    shutdown()  # the in-process webhook sender stops before the test database goes
    with application.app_context():
        from extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest):
    """Every test starts from empty tables, an empty limiter and empty indexes."""
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    from extensions import db, limiter

    with application.app_context():
        db.session.remove()
        writer = application.extensions.get("companin_request_log")
        if writer is not None:
            writer.flush()
        _truncate_all(db)
        if not SERVICES:  # memory storage; in Redis only this run's keys are deleted below
            limiter.reset()
        if SERVICES:
            from services.jobs import get_redis

            r = get_redis(application)
            for key in r.scan_iter(f"*companin-test-{RUN_ID}*"):
                r.delete(key)
    for sub in ("indexes", "storage"):
        shutil.rmtree(Path(os.environ["INSTANCE_DIR"]) / sub, ignore_errors=True)


def _truncate_all(db) -> None:  # noqa: ANN001
    from sqlalchemy import text

    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
def restore_limiter():
    """Flask-Limiter keeps its storage on the one `limiter` object, so a second app built
    in a test with another storage URI re-points the shared test app's limiter as well
    (one app per process in production). Put the shared storage back afterwards."""
    from extensions import limiter

    saved = (getattr(limiter, "_storage", None), getattr(limiter, "_limiter", None))
    yield
    limiter._storage, limiter._limiter = saved


@pytest.fixture
def ctx(app):
    """An application context for calling services directly."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def run_jobs(app):
    """Execute queued background jobs: a real RQ worker in services mode; the in-process
    threads finish in thread mode; in sync mode jobs already ran when they were enqueued."""

    def _run() -> None:
        if app.config["JOBS_MODE"] == "thread":
            from services.jobs import wait_for_idle

            wait_for_idle(app)
            return
        if app.config["JOBS_MODE"] != "rq":
            return
        from jobs.fair import FairWorker
        from services.jobs import get_queues, get_redis

        with app.app_context():
            worker = FairWorker(get_queues(app), connection=get_redis(app))
            worker.work(burst=True, with_scheduler=False)

    return _run


from tests.factories import *  # noqa: E402,F401,F403 - fixtures re-exported
from tests.shared_fixtures import *  # noqa: E402,F401,F403 - fixtures re-exported
from tests.browser_fixtures import *  # noqa: E402,F401,F403 - fixtures re-exported
