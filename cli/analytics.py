"""`flask --app wsgi analytics rollup|prune` and `retention run`: run from cron (hourly /
daily) in any mode.

Both print JSON like every other command (SPEC §9).
"""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

analytics_cli = AppGroup("analytics", help="Analytics rollups and request-log retention.")


@analytics_cli.command("rollup")
def rollup_command() -> None:
    """Fold complete past hours of request logs into hourly rollups."""
    from services.analytics.rollups import roll_up

    click.echo(json.dumps(roll_up().as_dict(), indent=2))


@analytics_cli.command("prune")
@click.option("--days", type=int, default=None,
              help="Keep this many days of raw logs (default REQUEST_LOG_RETENTION_DAYS).")
def prune_command(days: int | None) -> None:
    """Roll up, then delete raw request logs older than the retention period."""
    from services.analytics.retention import prune

    if days is not None and days < 0:
        raise click.BadParameter("must be zero or more", param_hint="--days")
    click.echo(json.dumps(prune(retention_days=days).as_dict(), indent=2))


retention_cli = AppGroup("retention", help="Per-organization retention (SPEC §12).")


@retention_cli.command("run")
@click.option("--org", "org_id", default=None, help="Only this organization.")
def retention_run(org_id: str | None) -> None:
    """Delete what each organization's retention policy says is past its date (request
    logs, conversations, rate-limit events), in batches; rollups and audit events stay."""
    from services.retention import run

    click.echo(json.dumps({"deleted": run(org_id=org_id)}, indent=2))
