"""Command line (SPEC §9): `flask --app wsgi <group> <command>`; every command prints
JSON so scripts can read it."""
from __future__ import annotations

from flask import Flask

from cli.admin import jobs_cli, key_cli, knowledge_cli, org_cli, seed_demo, user_cli
from cli.analytics import analytics_cli, retention_cli
from cli.serve import serve
from cli.sessions import sessions_cli


def register_cli(app: Flask) -> None:
    for group in (org_cli, key_cli, user_cli, jobs_cli, knowledge_cli, sessions_cli,
                  analytics_cli, retention_cli):
        app.cli.add_command(group)
    app.cli.add_command(seed_demo)
    app.cli.add_command(serve)
