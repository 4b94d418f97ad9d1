"""Organizations, keys, operators, jobs, knowledge indexes and the demo seed (SPEC §9)."""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from errors import AppError
from extensions import db
from models.orgs import Organization
from services.jobs import get_queues, get_redis, sweep

org_cli = AppGroup("org", help="Organizations.")
key_cli = AppGroup("key", help="API keys.")
user_cli = AppGroup("user", help="Console operators.")
jobs_cli = AppGroup("jobs", help="Background jobs.")
knowledge_cli = AppGroup("knowledge", help="Knowledge indexes and embedding models.")


@jobs_cli.command("sweep")
def jobs_sweep() -> None:
    """Fail jobs whose worker died or timed out and re-dispatch queued jobs whose queue
    entry was lost (web processes also do this every JOB_SWEEP_INTERVAL_SECONDS)."""
    result = sweep()
    _emit({"failed_jobs": result["failed"], "redispatched_jobs": result["redispatched"]})


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--no-scheduler", is_flag=True, help="Do not run the RQ scheduler here.")
def jobs_worker(burst: bool, no_scheduler: bool) -> None:
    """An RQ worker over every queue shard, served round-robin, jobs run in-process."""
    from jobs.fair import FairWorker  # here: only a worker pays for importing RQ

    from services.retention import schedule_rq

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not no_scheduler and not burst:
        schedule_rq(app)  # the scheduled retention run, unless one is already scheduled
    worker = FairWorker(get_queues(app), connection=get_redis(app))
    worker.work(burst=burst, with_scheduler=not no_scheduler)


def _emit(payload: dict) -> None:
    click.echo(json.dumps(payload, indent=2))


def _fail(exc: AppError) -> None:
    click.echo(json.dumps(exc.to_dict()), err=True)
    sys.exit(1)


def _org(org_id: str) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        click.echo(json.dumps({"error": {"code": "not_found",
                                         "message": f"No organization {org_id}."}}), err=True)
        sys.exit(1)
    return org


@org_cli.command("create")
@click.argument("name")
@click.option("--rate-limit", type=int, default=None, help="Requests per hour (default 100).")
def org_create(name: str, rate_limit: int | None) -> None:
    """Create an organization and its first API key."""
    from services.keys import create_key
    from services.orgs import create_organization

    try:
        org = create_organization(name, rate_limit_per_hour=rate_limit)
    except AppError as exc:
        _fail(exc)
    minted = create_key(org, name="default")
    _emit({"organization_id": org.id, "api_key": minted.secret, "key_id": minted.key.id})


@org_cli.command("set-limit")
@click.argument("org_id")
@click.argument("per_hour", type=int)
def org_set_limit(org_id: str, per_hour: int) -> None:
    """Change an organization's hourly request limit."""
    from services.orgs import update_settings

    org = _org(org_id)
    try:
        update_settings(org, rate_limit_per_hour=per_hour)
    except AppError as exc:
        _fail(exc)
    _emit({"organization_id": org.id, "rate_limit_per_hour": org.rate_limit_per_hour})


@org_cli.command("set-retention")
@click.argument("org_id")
@click.option("--request-logs", type=str, default=None, help="Days, or 'keep'.")
@click.option("--conversations", type=str, default=None, help="Days, or 'keep'.")
@click.option("--rate-limit-events", type=str, default=None, help="Days, or 'keep'.")
def org_set_retention(org_id: str, request_logs: str | None, conversations: str | None,
                      rate_limit_events: str | None) -> None:
    """Days to keep raw request logs, conversations and rate-limit events ('keep': for
    ever); options left out are unchanged."""
    from services.retention import policy, set_policy

    org = _org(org_id)
    given = {"request_logs": request_logs, "conversations": conversations,
             "rate_limit_events": rate_limit_events}
    changes: dict[str, int | None] = {}
    for kind, value in given.items():
        if value is None:
            continue
        if value.strip().lower() == "keep":
            changes[kind] = None
        elif value.strip().isdigit():
            changes[kind] = int(value)
        else:
            raise click.BadParameter("a number of days or 'keep'",
                                     param_hint=f"--{kind.replace('_', '-')}")
    try:
        set_policy(org, changes)
    except AppError as exc:
        _fail(exc)
    _emit({"organization_id": org.id, "retention_days": policy(org)})


@key_cli.command("create")
@click.option("--org", "org_id", default=None, help="Organization id.")
@click.option("--platform", is_flag=True, help="A platform key (analytics across orgs).")
@click.option("--name", default="", help="A label for the key.")
@click.option("--scopes", default=None,
              help="Comma-separated scopes (default: every scope but keys:manage).")
@click.option("--expires-at", "expires_at", default=None, help="ISO 8601 expiry time.")
@click.option("--rate-limit", "rate_limit", type=int, default=None,
              help="The key's own requests per hour, within the organization's.")
def key_create(org_id: str | None, platform: bool, name: str, scopes: str | None,
               expires_at: str | None, rate_limit: int | None) -> None:
    """Create an API key; the key is printed once and never stored. The CLI (like the
    console) may grant keys:manage."""
    from datetime import datetime

    from services.keys import create_key

    if platform == bool(org_id):
        raise click.UsageError("Give exactly one of --org ORG_ID or --platform.")
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00")) if expires_at \
            else None
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2027-01-31T00:00:00Z",
                                 param_hint="--expires-at") from None
    org = _org(org_id) if org_id else None
    try:
        minted = create_key(org, name=name, platform=platform,
                            scopes=[s.strip() for s in scopes.split(",") if s.strip()]
                            if scopes is not None else None,
                            expires_at=when, rate_limit_per_hour=rate_limit)
    except AppError as exc:
        _fail(exc)
    _emit({"id": minted.key.id, "api_key": minted.secret, "platform": platform,
           "organization_id": org.id if org else None, "scopes": minted.key.scopes,
           "expires_at": minted.key.expires_at.isoformat() if minted.key.expires_at
           else None})


@key_cli.command("revoke")
@click.option("--org", "org_id", required=True)
@click.argument("key_id")
def key_revoke(org_id: str, key_id: str) -> None:
    from services.keys import revoke_key

    try:
        key = revoke_key(_org(org_id), key_id)
    except AppError as exc:
        _fail(exc)
    _emit({"id": key.id, "revoked_at": key.revoked_at.isoformat()})


@user_cli.command("create")
@click.option("--org", "org_id", required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", default="owner", type=click.Choice(["owner", "admin", "viewer"]))
@click.option("--name", default="")
@click.option("--platform-admin", is_flag=True,
              help="May read every organization's analytics in the console.")
def user_create(org_id: str, email: str, password: str, role: str, name: str,
                platform_admin: bool) -> None:
    """Create a console operator."""
    from services.users import create_user

    try:
        user = create_user(_org(org_id), email=email, password=password, role=role, name=name)
    except AppError as exc:
        _fail(exc)
    if platform_admin:
        user.is_platform_admin = True
        db.session.commit()
    _emit({"id": user.id, "email": user.email, "role": user.role, "organization_id": org_id,
           "platform_admin": user.is_platform_admin})


@click.command("seed-demo")
@with_appcontext
@click.option("--email", default="admin@demo.companin.io")
@click.option("--password", default="companin-demo")
@click.option("--base-url", default="http://127.0.0.1:5000", help="Where the app is served.")
def seed_demo(email: str, password: str, base_url: str) -> None:
    """Create (once) a demo organization with an assistant, a key and a console owner."""
    from sqlalchemy import select

    from models.orgs import User
    from services.assistants import create_assistant
    from services.keys import create_key
    from services.orgs import create_organization
    from services.users import create_user

    existing = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if existing is not None:
        org = db.session.get(Organization, existing.org_id)
        minted = create_key(org, name="make run")
    else:
        org = create_organization("Demo Organization")
        minted = create_key(org, name="make run")
        create_user(org, email=email, password=password, role="owner", name="Demo Owner")
        create_assistant(org, {"name": "Support Assistant", "description": "Answers customers.",
                               "tone": "friendly and concise", "language": "en",
                               "instructions": "Answer from the knowledge base; cite sources."},
                         actor=None)
    _emit({"organization_id": org.id, "api_key": minted.secret,
           "console": {"url": base_url.rstrip("/") + "/console/", "email": email,
                       "password": password if existing is None else "(unchanged)"}})


@org_cli.command("set-languages")
@click.argument("org_id")
@click.argument("languages")
def org_set_languages(org_id: str, languages: str) -> None:
    """The languages an organization works in, main first (e.g. `it,en`)."""
    from services.orgs import update_settings

    org = _org(org_id)
    try:
        update_settings(org, languages=languages.split(","))
    except AppError as exc:
        _fail(exc)
    _emit({"organization_id": org.id, "languages": org.languages})


@knowledge_cli.command("reembed")
@click.argument("org_id")
@click.option("--model", default=None, help="Move the organization to this model.")
def knowledge_reembed(org_id: str, model: str | None) -> None:
    """Re-embed an organization's knowledge (with --model: switch models when complete)."""
    from services.knowledge.sources import queue_reembed

    org = _org(org_id)
    try:
        job = queue_reembed(org, None, model)
    except AppError as exc:
        _fail(exc)
    _emit({"organization_id": org.id, "job_id": job.id, "status": job.status})


@knowledge_cli.command("migrate-model")
@with_appcontext
def knowledge_migrate_model() -> None:
    """After changing EMBEDDING_MODEL: queue the move of every organization still served
    by another model (each keeps serving from its old index until its job completes)."""
    from flask import current_app

    from services.knowledge.sources import queue_reembed
    from services.knowledge.vectors import default_model, org_model

    target = default_model()
    queued = []
    for org in db.session.query(Organization).order_by(Organization.id):
        if org.embedding_model and org_model(org) != target:
            job = queue_reembed(org, None, target)
            queued.append({"organization_id": org.id, "job_id": job.id})
    _emit({"model": current_app.config["EMBEDDING_MODEL"], "queued": queued})
