"""Migrations build the schema from empty, and the models match them exactly."""
from __future__ import annotations

import os
import subprocess
import sys


def test_models_match_migrations(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from extensions import db

    with app.app_context(), db.engine.connect() as conn:
        from models.schema_filters import include_object

        mc = MigrationContext.configure(conn, opts={"compare_type": True,
                                                    "include_object": include_object})
        diff = compare_metadata(mc, db.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_from_empty_and_downgrade_to_base(tmp_path):
    """A fresh SQLite file through the CLI, as `make run` does it."""
    env = {**os.environ, "INSTANCE_DIR": str(tmp_path), "DATABASE_URL": "",
           "REDIS_URL": ""}
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db"]
    for args in (["upgrade", "heads"], ["downgrade", "base"], ["upgrade", "heads"]):
        proc = subprocess.run(flask + args, env=env, capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "companin.db").exists()
