"""Keyed API throughput: `GET /api/v1/assistants/` through gunicorn in services mode vs a
bare Flask endpoint that runs the same list query with psycopg, served the same way, in
the same run (the reference of issue 15).

    python -m bench.api                       # 2 sync workers, 3 interleaved rounds of 10 s
    python -m bench.api --workers 4 --seconds 5 --rounds 2 --profile

Set-up: a throwaway PostgreSQL database (`companin_bench_api_*`) migrated with
`flask --app wsgi db upgrade heads`, REDIS_URL with a `companin-bench-<run>` key prefix,
one organization (limit raised to 10,000,000/hour for the run) with 5 assistants. Five
gunicorn servers run side by side with the same worker settings — the product with its
services-mode defaults (batched request log), the product writing each log row
synchronously, the product with the limiter disabled (RATELIMIT_ENABLED=False), and the
two endpoints of bench/bare_app.py (one SELECT with psycopg: the reference; no store: for
information) — and wrk drives them in interleaved rounds, so machine noise hits every
variant alike; each figure is the median over rounds. A loop against Redis times the
limiter's calls on their own (the stock fixed window's hit + window stats, and the
product's one-trip hit). `--profile` samples one keyed worker with py-spy during an extra
wrk run and prints where its time goes, and the worker time added per keyed request.
Every variant's CPU time per request is counted too, from /proc: its gunicorn workers,
PostgreSQL, Redis, wrk and the whole machine — on 2 shared cores, throughput follows the
CPU a request costs everywhere, not only in the worker.

Worker class: sync by default, for both the product and the reference. `make serve` runs
gthread workers (4 x 4 threads), which hold slow clients better; for throughput on 2 cores
sync workers keep the Python work of one request on one core with no GIL hand-offs. Pass
`--worker-class gthread --threads 4` to measure `make serve`'s setting.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    child_pids,
    services_stack,
    REDIS_URL,
    REPO_DIR,
    VENV_BIN,
    Report,
    flask_cli,
    gunicorn,
    http_json,
    median_run,
    ratio,
    results_path,
    wrk,
)

PATH = "/api/v1/assistants/"
REFERENCE = "reference: bare Flask + one psycopg SELECT (bench/bare_app.py /bare-select/)"
NO_STORE = "bare Flask, no store (bench/bare_app.py /bare/, for information)"


def limiter_loop(prefix: str, n: int) -> dict[str, float]:
    """µs per limiter call against Redis: the stock fixed window (a hit, then GET + TTL
    for the headers) and the product's one-trip hit, vs a bare Redis PING."""
    from flask import Flask
    from limits import parse
    from limits.storage import storage_from_string
    from limits.strategies import FixedWindowRateLimiter
    from redis import Redis

    from services.ratelimit import OneTripFixedWindow

    storage = storage_from_string(REDIS_URL, key_prefix=prefix)
    stock = FixedWindowRateLimiter(storage)
    ours = OneTripFixedWindow(storage)
    item = parse("10000000/hour")
    r = Redis.from_url(REDIS_URL)
    out = {}
    ctx = Flask(__name__).test_request_context()  # the product's hit runs in a request
    ctx.push()
    try:
        for label, fn in (
                ("redis PING", r.ping),
                ("stock hit + window stats (3 calls)",
                 lambda: (stock.hit(item, "org:bench-loop"),
                          stock.get_window_stats(item, "org:bench-loop"))),
                ("one-trip hit + window stats (1 call)",
                 lambda: (ours.hit(item, "org:bench-loop-2"),
                          ours.get_window_stats(item, "org:bench-loop-2")))):
            fn()
            t = time.perf_counter()
            for _ in range(n):
                fn()
            out[label] = (time.perf_counter() - t) / n * 1e6
    finally:
        ctx.pop()
    r.close()
    return out


CATEGORIES = (("PostgreSQL round trips (psycopg)", "psycopg"),
              ("Redis round trips (limiter)", "redis/"),
              ("SQLAlchemy (Python side)", "sqlalchemy/"),
              ("pydantic (validation, serialisation)", "pydantic"),
              ("Flask-Limiter / limits (Python side)", "limit"),
              ("Flask / Werkzeug", "flask/"), ("Flask / Werkzeug", "werkzeug/"))


# What a keyed request adds to the view's own work: authentication (and the key cache),
# the limiter's check and headers, the request id and the request-log row.
ADDED_FRAMES = ("authenticate_request ", "confirm_cached_key ", "_check_request_limit ",
                "__inject_headers ", "start_request ", "finish_request ",
                "write_request_log ")
ADDED_ROW = "[added] authentication + limiter + request log (inclusive)"


def summarize_profile(raw: str, top: int = 12) -> list[tuple[str, float]]:
    """Where a worker's request time goes, from py-spy's raw (collapsed) stacks: first
    by category (the deepest library on the stack), then the busiest of our functions.
    Shares are of the samples taken while a request was being handled."""
    total = added = 0
    cats: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "handle_request" not in stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        if any(frame.strip().startswith(ADDED_FRAMES) for frame in frames):
            added += n
        cat = "other (our code, gunicorn I/O, json)"
        for frame in reversed(frames):
            hit = next((c for c, marker in CATEGORIES if marker in frame), None)
            if hit:
                cat = hit
                break
        cats[cat] += n
        seen = set()
        for frame in frames:
            m = re.match(r"(.+?) \((.+?)(?::\d+)?\)$", frame.strip())
            if m and _is_ours(m.group(2)) and m.group(1) not in seen:
                seen.add(m.group(1))
                ours[f"{m.group(1)} ({_short(m.group(2))})"] += n
    if not total:
        return []
    rows = [(ADDED_ROW, round(100.0 * added / total, 1))]
    rows += [(f"[category] {c}", round(100.0 * n / total, 1)) for c, n in cats.most_common()]
    rows += [(f"[ours, inclusive] {f}", round(100.0 * n / total, 1))
             for f, n in ours.most_common(top)]
    return rows


OUR_CODE = ("api/", "services/", "models/", "jobs/", "console/", "factory.py",
            "extensions.py", "errors.py", "config.py", "wsgi.py")


def _is_ours(path: str) -> bool:
    """py-spy prints paths relative to sys.path, so the product's read `api/auth.py`."""
    rel = path.split(str(REPO_DIR) + "/", 1)[-1]
    return rel.startswith(OUR_CODE)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_worker(server: Any, url: str, key: str, seconds: float, connections: int
                   ) -> list[tuple[str, float]]:
    pids = child_pids(server.proc.pid)
    spy = VENV_BIN / "py-spy"
    if not pids or not spy.exists():
        return []
    out = Path(tempfile.mkstemp(prefix="bench-pyspy-", suffix=".txt")[1])
    proc = subprocess.Popen([str(spy), "record", "--pid", str(pids[0]), "--duration",
                             str(int(seconds)), "--rate", "250", "--format", "raw",
                             "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    wrk(url, seconds=seconds, connections=connections, headers={"X-API-Key": key})
    proc.wait(timeout=seconds + 60)
    text = out.read_text() if out.exists() else ""
    out.unlink(missing_ok=True)
    return summarize_profile(text)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_PARTS = ("gunicorn workers", "PostgreSQL", "Redis", "wrk", "whole machine")


def _proc_stats() -> dict[int, tuple[str, int, int]]:
    """pid → (command name, parent pid, user + system ticks), from /proc."""
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        stats[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


def _machine_busy() -> int:
    """Ticks every CPU spent on anything but idle and I/O wait, since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(values) - values[3] - values[4]


def cpu_ticks(master: int) -> dict[str, float]:
    """CPU ticks so far of a gunicorn server (master and workers), PostgreSQL, Redis, wrk
    and the machine. wrk runs as this process's child and has exited by the time it is
    read, so its ticks are those of the reaped children. A PostgreSQL backend that ends
    between two readings (a pooled connection closed) takes its ticks with it: the
    PostgreSQL figure is a lower bound."""
    parts = dict.fromkeys(CPU_PARTS, 0.0)
    for pid, (name, ppid, ticks) in _proc_stats().items():
        if pid == master or ppid == master:
            parts["gunicorn workers"] += ticks
        elif name.startswith("postgres"):
            parts["PostgreSQL"] += ticks
        elif name.startswith("redis-server"):
            parts["Redis"] += ticks
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    parts["wrk"] = (usage.ru_utime + usage.ru_stime) * CLOCK_TICKS
    parts["whole machine"] = float(_machine_busy())
    return parts


def main(workers: int = 2, worker_class: str = "sync", threads: int = 1, seconds: float = 10,
         rounds: int = 3, connections: int | None = None, flush: float = 0.5,
         assistants: int = 5, limiter_calls: int = 2000, profile: bool = False,
         results: str | None = None, argv: list[str] | None = None) -> dict[str, Any]:
    connections = connections or 4 * workers
    report = Report("bench.api", argv or ["python", "-m", "bench.api"])
    figures: dict[str, Any] = {}
    with services_stack("api") as stack:
        url, base_env, prefix = stack.url, stack.env, stack.prefix
        org = json.loads(flask_cli(base_env, "org", "create", "Bench",
                                   "--rate-limit", "10000000"))
        key = org["api_key"]
        variants = [
            (f"keyed, services-mode default: batched request log "
             f"(REQUEST_LOG_FLUSH_SECONDS={flush})", "wsgi:app",
             {"REQUEST_LOG_FLUSH_SECONDS": str(flush)}),
            ("keyed, synchronous request-log write (REQUEST_LOG_FLUSH_SECONDS=0)",
             "wsgi:app", {"REQUEST_LOG_FLUSH_SECONDS": "0"}),
            ("keyed, limiter disabled (RATELIMIT_ENABLED=False)", "bench.app_variant:app",
             {"REQUEST_LOG_FLUSH_SECONDS": str(flush),
              "BENCH_APP_OVERRIDES": json.dumps({"RATELIMIT_ENABLED": False})}),
            (REFERENCE, "bench.bare_app:app", {"BENCH_ORG_ID": org["organization_id"]}),
            (NO_STORE, "bench.bare_app:app", {}),
        ]
        runs: dict[str, list[dict[str, float]]] = {v[0]: [] for v in variants}
        cpu = {v[0]: collections.Counter() for v in variants}  # ticks and requests
        profile_rows: list[tuple[str, float]] = []
        with _Servers(variants, base_env, workers, worker_class, threads) as servers:
            first = servers[variants[0][0]]
            for i in range(assistants):
                status, body, _ = http_json("POST", first.base + PATH, key=key, body={
                    "name": f"Assistant {i}", "description": "Front desk", "tone": "warm",
                    "language": "en", "instructions": "Answer briefly."})
                if status != 201:
                    raise RuntimeError(f"creating an assistant: {status} {body}")
            targets = {}
            for label, server in servers.items():
                is_bare = "bare" in label
                target = server.base + {REFERENCE: "/bare-select/",
                                        NO_STORE: "/bare/"}.get(label, PATH)
                status, body, headers = http_json("GET", target,
                                                  key=None if is_bare else key)
                if status != 200 or len(body["items"]) != (5 if label == NO_STORE
                                                           else assistants):
                    raise RuntimeError(f"{label}: {status} {str(body)[:300]}")
                targets[label] = (target, {} if is_bare else {"X-API-Key": key})
                wrk(target, seconds=min(2, seconds), connections=connections,
                    headers=targets[label][1])  # warm-up
            for r in range(rounds):
                print(f"== round {r + 1}/{rounds}", flush=True)
                order = list(targets) if r % 2 == 0 else list(reversed(targets))
                for label in order:
                    target, headers = targets[label]
                    before = cpu_ticks(servers[label].proc.pid)
                    res = wrk(target, seconds=seconds, connections=connections,
                              headers=headers)
                    after = cpu_ticks(servers[label].proc.pid)
                    cpu[label].update({part: max(0.0, after[part] - before[part])
                                       for part in CPU_PARTS})
                    cpu[label]["requests"] += res["requests"]
                    print(f"   {label}: {res['rps']:.0f} req/s p50 {res['p50_ms']} ms",
                          flush=True)
                    runs[label].append(res)
            if profile:
                label = variants[0][0]
                profile_rows = profile_worker(servers[label], targets[label][0], key,
                                              max(seconds, 8), connections)
        logged = _count_logs(url)
        loop = limiter_loop(prefix, limiter_calls)

    med = {label: median_run(rs) for label, rs in runs.items()}
    reference = med[REFERENCE]
    rows = []
    for label, m in med.items():
        rows.append([label, round(m["rps"], 1), m["p50_ms"], m["p99_ms"],
                     ratio(m["rps"], reference["rps"]),
                     int(sum(r["non2xx"] for r in runs[label])),
                     int(sum(r["socket_errors"] for r in runs[label]))])
        figures[label] = {**m, "ratio": ratio(m["rps"], reference["rps"])}
    batched = med[variants[0][0]]
    sync_log = med[variants[1][0]]
    nolimit = med[variants[2][0]]
    per_req = lambda m: 1000.0 / m["rps"] * workers  # noqa: E731 - ms of worker time per request
    figures["reference"] = reference
    figures["bare"] = med[NO_STORE]
    figures["keyed"] = batched  # the product default in services mode
    figures["keyed_label"] = variants[0][0]
    figures["keyed_sync_log"] = sync_log
    figures["ratio"] = ratio(batched["rps"], reference["rps"])
    figures["added_ms"] = round(per_req(batched) - per_req(reference), 3)
    figures["logged_rows"] = logged
    figures["limiter_loop_us"] = loop
    report.table(
        f"wrk {connections} connections, {seconds:.0f} s x {rounds} interleaved rounds "
        f"(medians); gunicorn {workers} {worker_class} workers"
        + (f" x {threads} threads" if worker_class == "gthread" else ""),
        ["variant", "req/s", "p50 ms", "p99 ms", "ratio to the reference", "non-2xx",
         "socket errors"], rows)
    report.table("Cost of the pieces (worker-ms per request = workers x 1000 / req/s)",
                 ["piece", "figure"],
                 [["keyed request (default) vs the reference: auth + limiter + request log "
                   "+ ORM/pydantic", f"{figures['added_ms']:+.2f} ms/request"],
                  ["request-log write, sync vs batched",
                   f"{per_req(sync_log) - per_req(batched):+.2f} ms/request"],
                  ["limiter (Redis), enabled vs disabled",
                   f"{per_req(batched) - per_req(nolimit):+.2f} ms/request"],
                  *[[f"{label} (Redis, loop)", f"{us:.0f} µs"] for label, us in loop.items()],
                  ["request_logs rows written during the run", f"{logged:,}"]])
    figures["cpu_ms_per_request"] = {
        label: {part: round(ticks * 1000.0 / CLOCK_TICKS / c["requests"], 3)
                for part, ticks in c.items() if part != "requests"}
        for label, c in cpu.items() if c.get("requests")}
    report.table(
        "CPU time per request, every round summed (ms of CPU / requests served): who spends "
        "the machine's 2 cores",
        ["variant", *CPU_PARTS],
        [[label, *[c.get(part, math.nan) for part in CPU_PARTS]]
         for label, c in figures["cpu_ms_per_request"].items()])
    if profile_rows:
        share = dict(profile_rows).get(ADDED_ROW, 0.0)
        figures["added_ms_profile"] = round(share / 100.0 * per_req(batched), 3)
        report.note(f"worker time added per keyed request, from the profile: {share}% of a "
                    f"request's samples x {per_req(batched):.2f} worker-ms per request = "
                    f"{figures['added_ms_profile']} ms (target <= 1.5 ms)")
        report.table("py-spy, one keyed worker (services-mode defaults): inclusive share of "
                     "samples", ["frame", "% of samples"], profile_rows)
    report.note(f"target: keyed (services-mode defaults) >= 0.60 of the reference's req/s; "
                f"measured {figures['ratio']}.")
    report.write(results_path(results))
    figures["report"] = report
    return figures


class _Servers:
    """Start every variant's gunicorn; stop them all on exit."""

    def __init__(self, variants: list, env: dict[str, str], workers: int, worker_class: str,
                 threads: int) -> None:
        self.variants, self.env = variants, env
        self.kw = {"workers": workers, "worker_class": worker_class, "threads": threads}
        self._cms: list = []

    def __enter__(self) -> dict[str, Any]:
        servers = {}
        try:
            for label, app_path, extra in self.variants:
                cm = gunicorn(app_path, {**self.env, **extra},
                              ready_path="/bare/" if "bare" in app_path else
                              "/api/v1/openapi.json", **self.kw)
                servers[label] = cm.__enter__()
                self._cms.append(cm)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return servers

    def __exit__(self, *exc: Any) -> None:
        for cm in reversed(self._cms):
            cm.__exit__(None, None, None)
        self._cms = []


def _count_logs(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM request_logs")).scalar_one()
    engine.dispose()
    return int(n)


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    p.add_argument("--threads", type=int, default=1, help="gthread threads per worker")
    p.add_argument("--seconds", type=float, default=10, help="per wrk run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=None, help="default 4 x workers")
    p.add_argument("--flush", type=float, default=0.5,
                   help="REQUEST_LOG_FLUSH_SECONDS of the batched variant")
    p.add_argument("--profile", action="store_true", help="py-spy one keyed worker")
    p.add_argument("--results", default=None)
    a = p.parse_args(argv)
    main(a.workers, a.worker_class, a.threads, a.seconds, a.rounds, a.connections, a.flush,
         profile=a.profile, results=a.results,
         argv=["python", "-m", "bench.api", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cli()
