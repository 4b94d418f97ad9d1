"""`flask --app wsgi sessions expire` — housekeeping for session TTLs.

Sessions are already refused once past `expires_at` (the check is computed per request);
this command only stamps `ended_at`/`end_reason="expired"` on them so reports, filters and
the console can read a plain column. Run it from cron, e.g. every five minutes:

    */5 * * * *  cd /srv/companin && flask --app wsgi sessions expire
"""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

sessions_cli = AppGroup("sessions", help="End-user sessions.")


@sessions_cli.command("expire")
def expire() -> None:
    """Mark every session past its TTL as ended (idempotent; safe to run concurrently)."""
    from services.sessions import expire_sessions

    click.echo(json.dumps({"expired": expire_sessions()}))
