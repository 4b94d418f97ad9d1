"""The per-organization limit under concurrency: gunicorn workers sharing Redis.

    python -m bench.limiter                          # 4 workers, 16 client threads, 300 calls
    python -m bench.limiter --limit 100 --calls 300 --threads 16

One organization with a limit of `--limit` requests/hour sends `--calls` concurrent
`GET /api/v1/assistants/` from `--threads` client threads (bounded: every thread stops
after its share) to gunicorn with `--workers` sync workers in services mode (throwaway
PostgreSQL database `companin_bench_limiter_*`, Redis prefix `companin-bench-<run>`).
Exactly `limit` calls must be accepted and the rest refused with 429, with one
`rate_limit_events` row per refusal (counted in the database). The limiter's added latency
is the accepted calls' latency minus that of the same load on a second server with the
limiter disabled (RATELIMIT_ENABLED=False), measured in the same run.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections import Counter
from typing import Any

from bench.common import (
    services_stack,
    Report,
    flask_cli,
    gunicorn,
    latency_summary,
    ratio,
    results_path,
)

PATH = "/api/v1/assistants/"


def blast(port: int, key: str, calls: int, threads: int) -> list[tuple[int, float, dict]]:
    """`calls` GETs from `threads` threads, all released together; (status, s, headers)."""
    results: list[tuple[int, float, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)
    shares = [calls // threads + (1 if i < calls % threads else 0) for i in range(threads)]

    def run(n: int) -> None:
        start.wait()
        for _ in range(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t = time.perf_counter()
            conn.request("GET", PATH, headers={"X-API-Key": key})
            resp = conn.getresponse()
            resp.read()
            took = time.perf_counter() - t
            headers = {k.lower(): v for k, v in resp.getheaders()}
            conn.close()
            with lock:
                results.append((resp.status, took, headers))

    workers = [threading.Thread(target=run, args=(n,)) for n in shares]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    return results


def count_events(url: str, org_id: str) -> tuple[int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM rate_limit_events WHERE org_id = :o"),
                              {"o": org_id}).scalar_one()
        logged = conn.execute(text("SELECT count(*) FROM request_logs WHERE org_id = :o "
                                   "AND status = 429"), {"o": org_id}).scalar_one()
    engine.dispose()
    return int(events), int(logged)


def main(workers: int = 4, limit: int = 100, calls: int = 300, threads: int = 16,
         results: str | None = None, argv: list[str] | None = None) -> dict[str, Any]:
    report = Report("bench.limiter", argv or ["python", "-m", "bench.limiter"])
    figures: dict[str, Any] = {}
    with services_stack("limiter") as stack:
        url, env = stack.url, stack.env
        limited = json.loads(flask_cli(env, "org", "create", "Limited", "--rate-limit",
                                       str(limit)))
        # Reference org: same load, never limited, on a server with the limiter off.
        free = json.loads(flask_cli(env, "org", "create", "Reference", "--rate-limit",
                                    str(max(10 * calls, 1000))))
        off_env = {**env, "BENCH_APP_OVERRIDES": json.dumps({"RATELIMIT_ENABLED": False})}
        with gunicorn("wsgi:app", env, workers=workers) as on, \
                gunicorn("bench.app_variant:app", off_env, workers=workers) as off:
            print(f"== {calls} calls, {threads} threads, limit {limit}", flush=True)
            t = time.perf_counter()
            got = blast(on.port, limited["api_key"], calls, threads)
            wall = time.perf_counter() - t
            print("== same load, limiter disabled", flush=True)
            ref = blast(off.port, free["api_key"], calls, threads)
        time.sleep(0.5)
        events, logged_429 = count_events(url, limited["organization_id"])

    status = Counter(s for s, _, _ in got)
    accepted = [t for s, t, _ in got if s == 200]
    rejected = [t for s, t, _ in got if s == 429]
    ref_ok = [t for s, t, _ in ref if s == 200]
    retry_after = sum(1 for s, _, h in got if s == 429 and "retry-after" in h)
    remaining = sorted(int(h.get("x-ratelimit-remaining", -1)) for s, _, h in got if s == 200)
    acc, rej, base = (latency_summary(x) if x else None for x in (accepted, rejected, ref_ok))
    ok = (status.get(200, 0) == limit and status.get(429, 0) == calls - limit
          and events == calls - limit)
    figures.update({"status": dict(status), "events": events, "logged_429": logged_429,
                    "accepted": acc, "rejected": rej, "reference": base, "exact": ok,
                    "retry_after": retry_after, "wall_s": wall,
                    "added_p50_ms": round(acc["p50_ms"] - base["p50_ms"], 3)
                    if acc and base else float("nan")})
    report.table(f"{calls} concurrent calls of one organization (limit {limit}/hour), "
                 f"{threads} client threads, gunicorn {workers} sync workers, Redis limiter",
                 ["figure", "value", "expected"],
                 [["200 accepted", status.get(200, 0), limit],
                  ["429 rejected", status.get(429, 0), calls - limit],
                  ["other statuses", sum(v for k, v in status.items() if k not in (200, 429)),
                   0],
                  ["rate_limit_events rows (DB)", events, calls - limit],
                  ["request_logs rows with status 429", logged_429, calls - limit],
                  ["429s carrying Retry-After", retry_after, calls - limit],
                  ["distinct X-RateLimit-Remaining values on 200s (informational: the "
                   "header is read after the hit, so concurrent calls may share one)",
                   len(set(remaining)), f"<= {limit}"],
                  ["exactly right", "yes" if ok else "NO", "yes"],
                  ["wall time", f"{wall:.2f} s", "-"]])
    rows = []
    for label, s in (("accepted (limiter on)", acc), ("rejected 429 (limiter on, audit row)",
                                                      rej),
                     ("reference: limiter disabled, same load", base)):
        if s:
            rows.append([label, s["n"], s["p50_ms"], s["p95_ms"],
                         ratio(s["p50_ms"], base["p50_ms"]) if base else float("nan")])
    report.table("Client-side latency per call (concurrent, so it includes queueing)",
                 ["calls", "n", "p50 ms", "p95 ms", "p50 vs limiter disabled"], rows)
    report.note(f"limiter's added latency (accepted p50 - disabled p50): "
                f"{figures['added_p50_ms']} ms.")
    report.write(results_path(results))
    figures["report"] = report
    return figures


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--results", default=None)
    a = p.parse_args(argv)
    main(a.workers, a.limit, a.calls, a.threads, a.results,
         argv=["python", "-m", "bench.limiter", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    cli()
