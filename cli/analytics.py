"""`flask --app wsgi analytics rollup|prune`: run from cron (hourly / daily) in any mode.

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
