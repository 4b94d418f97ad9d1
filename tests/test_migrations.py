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


def _insert(conn, table: str, values: dict) -> None:
    """A row with `values`, every other NOT NULL column without a default filled in."""
    import datetime

    row = dict(values)
    for _, name, type_, notnull, default, _pk in conn.execute(f"PRAGMA table_info({table})"):
        if name in row or not notnull or default is not None:
            continue
        type_ = type_.upper()
        row[name] = (0 if "INT" in type_ or "BOOL" in type_ else
                     0.0 if "FLOAT" in type_ or "REAL" in type_ else
                     "{}" if "JSON" in type_ else
                     datetime.datetime(2026, 1, 1).isoformat(" ") if "DATE" in type_ else
                     f"{name}-x")
    cols = ", ".join(row)
    conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",
                 list(row.values()))


def test_promotion_history_is_backfilled_for_existing_assistants(tmp_path):
    """0013: assistants that existed before the promotion history get one promotion per
    version up to the live one, so an old draft still reads as a draft."""
    import sqlite3

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["INSTANCE_DIR"] = str(tmp_path)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]
    proc = subprocess.run(flask + ["0012"], env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with sqlite3.connect(tmp_path / "companin.db") as conn:
        _insert(conn, "organizations", {"id": "org_a"})
        _insert(conn, "assistants", {"id": "asst_a", "org_id": "org_a", "live_version": 2,
                                     "latest_version": 3})
        for n in (1, 2, 3):
            _insert(conn, "assistant_versions", {"id": f"astv_{n}", "org_id": "org_a",
                                                 "assistant_id": "asst_a", "number": n})
    proc = subprocess.run(flask + ["heads"], env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with sqlite3.connect(tmp_path / "companin.db") as conn:
        rows = conn.execute("SELECT number, previous_number, org_id FROM assistant_promotions "
                            "WHERE assistant_id = 'asst_a' ORDER BY number").fetchall()
    assert rows == [(1, None, "org_a"), (2, 1, "org_a")]
