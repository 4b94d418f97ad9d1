"""The application factory: extensions are wired here in a visible order, and nothing
connects to a database or network at start-up."""
from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import Config

_sqlite_configured = False


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder="console/static", static_url_path="/static/console",
                template_folder="console/templates")
    config = Config()
    app.config.from_mapping({k: v for k, v in vars(config).items() if k.isupper()})
    if overrides:
        app.config.update(overrides)
    _configure_logging(app)
    if app.config["PROXY_HOPS"]:  # client addresses (limits, logs, audit) from the proxy
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    _configure_sqlite()

    from extensions import csrf, db, htmx, limiter, login_manager, migrate

    import models  # noqa: F401 - registers every model for Alembic
    from models.types import json_from_db
    from api.auth import authenticate_request, confirm_cached_key
    from api import idempotency
    from api.errors import register_error_handlers
    from api.observability import init_observability
    from api.ratelimit import (
        count_unrouted,
        enforce_key_limit,
        exempt,
        org_limit,
        rate_limited_response,
    )
    from services import audit_trail, retention, webhooks
    from services.key_cache import init_key_cache
    import services.ratelimit  # noqa: F401 - registers RATELIMIT_STRATEGY with Flask-Limiter

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "json_deserializer": json_from_db, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    db.init_app(app)
    audit_trail.install()
    webhooks.install(app)
    app.before_request(retention.maybe_run)  # embedded mode's scheduler (a no-op otherwise)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True,
                     compare_type=True)
    # Order matters: request id, then authentication, then the limiter's check.
    init_observability(app)
    app.before_request(authenticate_request)
    app.config["RATELIMIT_APPLICATION"] = org_limit
    app.config["RATELIMIT_APPLICATION_EXEMPT_WHEN"] = exempt
    limiter.init_app(app)
    init_key_cache(app)
    app.before_request(count_unrouted)  # a 404/405 under a key spends its budget too
    app.before_request(confirm_cached_key)  # after the limiter's hit, before any view
    app.before_request(enforce_key_limit)  # a key's own limit, inside its organization's
    app.before_request(idempotency.begin)  # after every limit: a refusal is not stored
    app.after_request(idempotency.end)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    register_error_handlers(app)
    # A 429 has its own handler (the code wins over the HTTPException class): it audits.
    app.register_error_handler(429, rate_limited_response)

    from api import register_api

    register_api(app)
    # Keyed JSON calls authenticate by header, not by cookie: no CSRF token applies.
    for name in list(app.blueprints):
        if name != "console" and not name.startswith("console"):
            csrf.exempt(app.blueprints[name])

    _register_console(app)

    from cli import register_cli

    register_cli(app)
    _register_jobs(app)
    return app


def _register_jobs(app: Flask) -> None:
    """The services queue jobs; what runs them is handed over here, so services never
    import the job functions (which import the services)."""
    from jobs.runner import run_job_in_app
    from services.jobs import maybe_sweep

    app.extensions["companin_job_runner"] = run_job_in_app
    if app.config["JOBS_MODE"] != "sync":  # first, so a 401 or a 429 does not skip it
        app.before_request_funcs.setdefault(None, []).insert(0, maybe_sweep)


def _register_console(app: Flask) -> None:
    from console.wiring import register_console

    register_console(app)


def _migrations_dir():  # noqa: ANN202
    from config import BASE_DIR

    return BASE_DIR / "migrations"


def _configure_logging(app: Flask) -> None:
    level = logging.DEBUG if app.debug else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _configure_sqlite() -> None:
    """WAL + busy timeout so the request-log writer and job thread never see 'locked'."""
    global _sqlite_configured
    if _sqlite_configured:
        return
    _sqlite_configured = True

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
