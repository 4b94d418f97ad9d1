"""Analytics reads on a large request log (PostgreSQL): usage, endpoints, a filtered logs
page — each vs a plain sequential `count(*)` of the same table, measured in the same run.

    python -m bench.analytics                  # 10,000,000 rows (insert takes minutes)
    python -m bench.analytics --rows 1000000   # quicker

A throwaway database `companin_bench_analytics_*` is migrated with the app's migrations,
filled with `generate_series` (2 organizations, 5 keys, a realistic route / method /
status / latency mix, evenly over the last 30 days), rolled up with
services.analytics.rollups.roll_up, then the three endpoints are called through the Flask
test client with an organization key (full request path: auth, limiter, view, JSON), and
the database is dropped.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from typing import Any

from bench.common import Report, latency_summary, pg_database, ratio, results_path

# (method, route, path, weight): a hot read, a few writes, the long tail.
ROUTES = [
    ("GET", "/api/v1/assistants/", "/api/v1/assistants/", 20),
    ("POST", "/api/v1/conversations/<conversation_id>/messages",
     "/api/v1/conversations/conv_x/messages", 18),
    ("GET", "/api/v1/conversations/<conversation_id>/messages",
     "/api/v1/conversations/conv_x/messages", 12),
    ("POST", "/api/v1/sessions/", "/api/v1/sessions/", 10),
    ("POST", "/api/v1/knowledge/search", "/api/v1/knowledge/search", 9),
    ("GET", "/api/v1/assistants/<assistant_id>", "/api/v1/assistants/asst_x", 8),
    ("POST", "/api/v1/conversations/", "/api/v1/conversations/", 6),
    ("GET", "/api/v1/knowledge/files/", "/api/v1/knowledge/files/", 5),
    ("POST", "/api/v1/knowledge/files/", "/api/v1/knowledge/files/", 3),
    ("GET", "/api/v1/jobs/<job_id>", "/api/v1/jobs/job_x", 3),
    ("POST", "/api/v1/conversations/<conversation_id>/feedback",
     "/api/v1/conversations/conv_x/feedback", 3),
    ("PATCH", "/api/v1/assistants/<assistant_id>", "/api/v1/assistants/asst_x", 1),
    ("GET", "/analytics/usage/", "/analytics/usage/", 1),
    ("GET", "<unmatched>", "/api/v1/nope", 1),
]


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def fill(conn: Any, rows: int, org_keys: list[tuple[str, list[str]]], batch: int) -> float:
    """Insert `rows` request-log rows with generate_series; returns seconds."""
    from sqlalchemy import text

    # Weighted route pick: expand by weight into a lookup array.
    expanded = [r for r in ROUTES for _ in range(r[3])]
    methods = _sql_array([r[0] for r in expanded])
    routes = _sql_array([r[1] for r in expanded])
    paths = _sql_array([r[2] for r in expanded])
    (org_a, keys_a), (org_b, keys_b) = org_keys
    t0 = time.perf_counter()
    for start in range(1, rows + 1, batch):
        end = min(rows, start + batch - 1)
        conn.execute(text(f"""
            INSERT INTO request_logs (org_id, api_key_id, method, route, path, status,
                                      latency_ms, request_id, client_ip, created_at)
            SELECT CASE WHEN s.o < 0.7 THEN :org_a ELSE :org_b END,
                   CASE WHEN s.o < 0.7
                        THEN (CAST(:keys_a AS text[]))[1 + floor(s.k * {len(keys_a)})::int]
                        ELSE (CAST(:keys_b AS text[]))[1 + floor(s.k * {len(keys_b)})::int] END,
                   ({methods})[s.ri], ({routes})[s.ri],
                   ({paths})[s.ri],
                   CASE WHEN ({routes})[s.ri] = '<unmatched>' THEN 404
                        WHEN s.st < 0.010 THEN 429
                        WHEN s.st < 0.012 THEN 500
                        WHEN s.st < 0.030 THEN 404
                        WHEN s.st < 0.045 THEN 422
                        WHEN s.st < 0.050 THEN 401
                        WHEN ({methods})[s.ri] = 'POST' THEN 201 ELSE 200 END,
                   round((exp(2.3 + 0.9 * sqrt(-2 * ln(1 - s.u1)) * cos(2 * pi() * s.u2))
                          )::numeric, 3)::float8,
                   'req_' || md5(s.g::text),
                   '10.0.' || (s.g % 200)::text || '.' || (s.g % 250)::text,
                   now() - interval '30 days'
                       + (s.g::float8 / CAST(:n AS float8)) * interval '30 days'
            FROM (SELECT g, random() AS o, random() AS k, random() AS st, random() AS u1,
                         random() AS u2, 1 + floor(random() * {len(expanded)})::int AS ri
                  FROM generate_series(CAST(:start AS bigint), CAST(:end AS bigint)) AS g) AS s
        """), {"org_a": org_a, "org_b": org_b, "keys_a": keys_a, "keys_b": keys_b,
               "n": rows, "start": start, "end": end})
        conn.commit()
        print(f"   inserted {end:,} / {rows:,} rows ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return time.perf_counter() - t0


def _setup(rows: int, batch: int) -> tuple[str, tuple]:
    """Migrate, create 2 orgs and 5 keys, fill, index, vacuum, roll up."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from extensions import db
    from models.audit import RequestLog
    from services.analytics.rollups import roll_up
    from services.keys import create_key
    from services.orgs import create_organization

    upgrade(revision="heads")
    org_keys, secret = [], None
    for name, nkeys in (("Bench A", 3), ("Bench B", 2)):
        org = create_organization(name, rate_limit_per_hour=1_000_000)
        keys = [create_key(org, name=f"k{i}") for i in range(nkeys)]
        secret = secret or keys[0].secret
        org_keys.append((org.id, [k.key.id for k in keys]))
    db.session.commit()

    print(f"== filling {rows:,} rows", flush=True)
    indexes = list(RequestLog.__table__.indexes)
    with db.engine.connect() as conn:
        for idx in indexes:  # bulk load, then index: how one loads 10M rows
            idx.drop(conn)
        conn.commit()
        fill_s = fill(conn, rows, org_keys, batch)
        t = time.perf_counter()
        for idx in indexes:
            idx.create(conn)
        conn.commit()
        index_s = time.perf_counter() - t
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        t = time.perf_counter()
        conn.execute(text("VACUUM ANALYZE request_logs"))  # VACUUM needs autocommit
        vacuum_s = time.perf_counter() - t
        table_mb = conn.execute(text(
            "SELECT pg_total_relation_size('request_logs')")).scalar_one() / 2**20
    print("== rollup", flush=True)
    t = time.perf_counter()
    rolled = roll_up()
    rollup_s = time.perf_counter() - t
    db.session.commit()
    rollup_rows = db.session.execute(text("SELECT count(*) FROM request_rollups")).scalar_one()
    return secret, (fill_s, index_s, vacuum_s, table_mb, rollup_s, rolled.hours, rollup_rows)


def _reuse(rows: int) -> tuple[str, tuple]:
    """A database kept by an earlier `--keep-db` run: new key for org A, roll up the rest."""
    from sqlalchemy import select, text

    from extensions import db
    from models.orgs import Organization
    from services.analytics.rollups import roll_up
    from services.keys import create_key

    org = db.session.execute(select(Organization).where(Organization.name == "Bench A")
                             ).scalar_one()
    secret = create_key(org, name="reuse").secret
    t = time.perf_counter()
    rolled = roll_up()
    rollup_s = time.perf_counter() - t
    db.session.commit()
    table_mb = db.session.execute(text(
        "SELECT pg_total_relation_size('request_logs')")).scalar_one() / 2**20
    rollup_rows = db.session.execute(text("SELECT count(*) FROM request_rollups")).scalar_one()
    nan = float("nan")
    return secret, (nan, nan, nan, table_mb, rollup_s, rolled.hours, rollup_rows)


def main(rows: int = 10_000_000, repeats: int = 7, batch: int = 1_000_000,
         results: str | None = None, argv: list[str] | None = None,
         keep_db: bool = False, reuse_db: str | None = None) -> dict[str, Any]:
    from sqlalchemy import text

    from extensions import db
    from factory import create_app
    from models.types import utcnow

    report = Report("bench.analytics", argv or ["python", "-m", "bench.analytics"])
    figures: dict[str, Any] = {"rows": rows}
    tmp = tempfile.mkdtemp(prefix="bench-analytics-")
    with pg_database("analytics", keep=keep_db, reuse=reuse_db) as url:
        db_name = url.rsplit("/", 1)[-1]
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url,
                          "INDEX_DIR": os.path.join(tmp, "indexes"),
                          "STORAGE_DIR": os.path.join(tmp, "storage"),
                          "RATELIMIT_STORAGE_URI": "memory://", "JOBS_MODE": "sync",
                          "REQUEST_LOG_FLUSH_SECONDS": 0})
        try:
            with app.app_context():
                if reuse_db:
                    secret, setup = _reuse(rows)
                else:
                    secret, setup = _setup(rows, batch)
                fill_s, index_s, vacuum_s, table_mb, rollup_s, rolled_hours, rollup_rows = setup

                # Reference: a plain sequential scan of the whole table.
                count_lat, plan_node = [], ""
                with db.engine.connect() as conn:
                    for setting in ("enable_indexonlyscan", "enable_indexscan",
                                    "enable_bitmapscan"):
                        conn.execute(text(f"SET {setting} = off"))
                    plan_node = conn.execute(text(
                        "EXPLAIN SELECT count(*) FROM request_logs")).all()
                    plan_node = " / ".join(r[0].split("(")[0].replace("->", "").strip()
                                           for r in plan_node if "Scan" in r[0])
                    for _ in range(repeats):
                        t = time.perf_counter()
                        counted = conn.execute(
                            text("SELECT count(*) FROM request_logs")).scalar_one()
                        count_lat.append(time.perf_counter() - t)
            scan = latency_summary(count_lat)

            now = utcnow()
            since = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            calls = [
                ("/analytics/usage/ (30 days, hourly)",
                 f"/analytics/usage/?interval=hour&since={since}"),
                ("/analytics/usage/ (30 days, daily)", "/analytics/usage/?interval=day"),
                ("/analytics/endpoints/ (30 days)", "/analytics/endpoints/"),
                ("/analytics/logs/ (status=4xx, method=GET, limit=50)",
                 "/analytics/logs/?status=4xx&method=GET&limit=50"),
                ("/analytics/logs/ (status=500, path prefix, limit=50)",
                 "/analytics/logs/?status=500&path=/api/v1/conversations/&limit=50"),
            ]
            client = app.test_client()
            out_rows = []
            for label, path in calls:
                lat, first = [], None
                for i in range(repeats):
                    t = time.perf_counter()
                    resp = client.get(path, headers={"X-API-Key": secret})
                    took = time.perf_counter() - t
                    if resp.status_code != 200:
                        raise RuntimeError(f"{path}: {resp.status_code} {resp.get_data()[:500]}")
                    if i == 0:
                        first = took
                    lat.append(took)
                body = resp.get_json()
                detail = ""
                if "buckets" in body:
                    detail = (f"{len(body['buckets'])} buckets, "
                              f"{body['totals']['requests']:,} requests, "
                              f"{body['percentiles']} percentiles")
                elif "total" in body:
                    detail = (f"{len(body['items'])} routes, {body['total']:,} requests, "
                              f"{body['percentiles']} percentiles")
                else:
                    detail = f"{len(body['items'])} rows"
                s = latency_summary(lat)
                figures[label] = {**s, "first_ms": round(first * 1000, 3),
                                  "vs_scan": ratio(s["p50_ms"], scan["p50_ms"])}
                out_rows.append([label, round(first * 1000, 1), s["p50_ms"], s["p95_ms"],
                                 ratio(s["p50_ms"], scan["p50_ms"]),
                                 "yes" if s["p50_ms"] <= 150 else "NO", detail])
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

    figures.update({"scan": scan, "fill_s": fill_s, "rollup_s": rollup_s,
                    "rollup_rows": rollup_rows, "count": counted, "database": db_name})
    report.table(f"Setup ({rows:,} request_logs rows, 2 orgs, 30 days)",
                 ["step", "figure"],
                 [["generate_series insert (indexes dropped)",
                   f"{fill_s:.1f} s ({rows / fill_s:,.0f} rows/s)" if reuse_db is None
                   else f"database reused: {reuse_db}"],
                  ["create the 3 request_logs indexes", f"{index_s:.1f} s"],
                  ["VACUUM ANALYZE", f"{vacuum_s:.1f} s"],
                  ["table + indexes size", f"{table_mb:,.0f} MiB"],
                  ["roll_up() (all complete hours)", f"{rollup_s:.1f} s, {rolled_hours} "
                   f"hours, {rollup_rows:,} rollup rows"]])
    report.table(f"Reads through the Flask test client, organization key (70% of rows are "
                 f"its), {repeats} calls each vs `SELECT count(*) FROM request_logs` "
                 f"(p50 {scan['p50_ms']:.1f} ms, plan: {plan_node})",
                 ["call", "first ms", "p50 ms", "p95 ms", "p50 / count(*) scan",
                  "<= 150 ms", "answer"], out_rows)
    report.note("target: each read <= 150 ms p50 and far below the full scan.")
    report.write(results_path(results))
    figures["report"] = report
    return figures


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=1_000_000, help="rows per INSERT")
    p.add_argument("--results", default=None)
    p.add_argument("--keep-db", action="store_true",
                   help="do not drop the database (prints its name for --reuse-db)")
    p.add_argument("--reuse-db", default=None,
                   help="measure the reads again on a database kept by --keep-db")
    a = p.parse_args(argv)
    main(a.rows, a.repeats, a.batch, a.results, keep_db=a.keep_db, reuse_db=a.reuse_db,
         argv=["python", "-m", "bench.analytics", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    cli()
