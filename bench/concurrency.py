"""Embedded mode under concurrency: the server `make run` starts (SQLite, in-process jobs,
in-memory limiter), 64 clients for 60 s — half post messages, half read lists.

Counts every response by status, client timeouts, and afterwards compares the request-log
rows in the database with the responses the clients received: every keyed request must be
logged. `--servers serve,run` also runs the same load against `flask run --with-threads`
(what `make run` served with before); copied into a checkout of an older commit, this file
measures that commit the same way (`--servers run --label " @<commit>"`).

Run: `python -m bench.concurrency` (about 2 minutes per server).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    REPO_DIR,
    VENV_BIN,
    Report,
    flask_cli,
    free_port,
    http_json,
    latency_summary,
    results_path,
    stop_process,
    wait_until_serving,
)

QUESTIONS = ["Quanto tempo ci vuole per la consegna in Sardegna?", "Do you ship to Malta?",
             "How long is the kettle warranty?", "Posso pagare con PayPal?",
             "Avete un negozio fisico a Milano?", "Where is my parcel?"]
ANSWERS = ["La consegna in Sardegna richiede da 3 a 5 giorni lavorativi.",
           "Yes, we ship to Malta within 4 working days.",
           "The Casa Bella kettle has a two-year warranty.",
           "Sì, accettiamo PayPal, carte di credito e bonifico.",
           "No, vendiamo solo online; il ritiro è possibile a Bologna.",
           "Track your parcel from the link in the confirmation e-mail."]
READS = ["/api/v1/assistants/", "/api/v1/conversations/?limit=20",
         "/api/v1/knowledge/qas/?limit=20", "/api/v1/sessions/?limit=20"]
SERVERS = {
    "serve": ("flask serve (waitress, make run)", ["serve"]),
    "run": ("flask run --with-threads (make run before)", ["run", "--with-threads"]),
}


def _embedded_env(instance: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "JOBS_MODE",
                        "RATELIMIT_STORAGE_URI")}
    env.update({"INSTANCE_DIR": instance, "SECRET_KEY": "bench-concurrency",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "PYTHONPATH": str(REPO_DIR)})
    return env


def _start(server_args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen,
                                                                             str]:
    port = free_port()
    cmd = [str(VENV_BIN / "flask"), "--app", "wsgi", *server_args,
           "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=REPO_DIR, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, base + "/api/v1/openapi.json", log)
    return proc, base


def _prepare(base: str, key: str) -> str:
    code, body, _ = http_json("POST", base + "/api/v1/knowledge/qas/", key=key, body={
        "items": [{"question": q, "answer": a} for q, a in zip(QUESTIONS, ANSWERS, strict=True)]})
    assert code in (200, 201, 202), (code, body)
    code, asst, _ = http_json("POST", base + "/api/v1/assistants/", key=key,
                              body={"name": "Concurrency"})
    assert code == 201, (code, asst)
    deadline = time.monotonic() + 180
    while True:  # in-process jobs: wait until the Q&A bank is searchable
        _, listing, _ = http_json("GET", base + "/api/v1/knowledge/qas/?limit=50", key=key)
        if all(s["status"] == "ready" for s in listing["items"]):
            break
        assert time.monotonic() < deadline, "Q&A never became ready"
        time.sleep(1)
    return asst["id"]


def _drive(base: str, key: str, assistant_id: str, clients: int,
           seconds: float) -> dict[str, Any]:
    lock = threading.Lock()
    statuses: dict[str, int] = {}
    latencies: dict[str, list[float]] = {"post message": [], "read list": []}
    counted = {"responses": 0, "timeouts": 0}

    def call(kind: str, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        started = time.perf_counter()
        try:
            code, payload, _ = http_json(method, url, key=key, body=body, timeout=90)
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            with lock:
                counted["timeouts"] += 1
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
            return 0, None
        with lock:
            counted["responses"] += 1
            statuses[str(code)] = statuses.get(str(code), 0) + 1
            if kind:
                latencies[kind].append(time.perf_counter() - started)
        return code, payload

    # Warm up: the first message loads the embedding model (not part of the measurement).
    _, sess = call("", "POST", base + "/api/v1/sessions/", {"assistant_id": assistant_id})
    _, conv = call("", "POST", base + "/api/v1/conversations/", {"session_id": sess["id"]})
    call("", "POST", f"{base}/api/v1/conversations/{conv['id']}/messages",
         {"content": QUESTIONS[0]})
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    deadline = [0.0]

    def client(n: int) -> None:
        rng = random.Random(n)
        conv_id = None
        if n % 2 == 0:  # a failed set-up call leaves this client reading lists
            code, s = call("", "POST", base + "/api/v1/sessions/",
                           {"assistant_id": assistant_id, "channel": "bench"})
            if code == 201:
                code, c = call("", "POST", base + "/api/v1/conversations/",
                               {"session_id": s["id"]})
                conv_id = c["id"] if code == 201 else None
        ready.wait()
        go.wait()
        while time.monotonic() < deadline[0]:
            if conv_id:
                call("post message", "POST", f"{base}/api/v1/conversations/{conv_id}/messages",
                     {"content": rng.choice(QUESTIONS)})
            else:
                call("read list", "GET", base + rng.choice(READS))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for th in threads:
        th.start()
    ready.wait()
    started = time.monotonic()
    deadline[0] = started + seconds
    go.set()
    for th in threads:
        th.join(timeout=seconds + 300)
    return {"elapsed": time.monotonic() - started, "statuses": statuses,
            "latencies": latencies, **counted}


def _logged(instance: str, org_id: str) -> int:
    with sqlite3.connect(Path(instance) / "companin.db") as conn:
        return conn.execute("SELECT count(*) FROM request_logs WHERE org_id = ?",
                            (org_id,)).fetchone()[0]


def run_one(label: str, server_args: list[str], clients: int,
            seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as instance:
        env = _embedded_env(instance)
        flask_cli(env, "db", "upgrade", "heads")
        org = json.loads(flask_cli(env, "org", "create", "Concurrency",
                                   "--rate-limit", "100000000"))
        proc, base = _start(server_args, env, Path(instance) / "server.log")
        try:
            assistant_id = _prepare(base, org["api_key"])
            before = _logged(instance, org["organization_id"])  # the set-up calls
            figures = _drive(base, org["api_key"], assistant_id, clients, seconds)
        finally:
            stop_process(proc)
        figures["logged"] = _logged(instance, org["organization_id"]) - before
        figures["label"] = label
        return figures


def run(clients: int = 64, seconds: float = 60.0, servers: tuple[str, ...] = ("serve",),
        results: str | None = None, label: str = "") -> dict[str, Any]:
    argv = ["python", "-m", "bench.concurrency", "--clients", str(clients),
            "--seconds", f"{seconds:g}", "--servers", ",".join(servers)]
    report = Report("bench.concurrency", argv)
    runs = []
    for name in servers:
        title, args = SERVERS[name]
        runs.append(run_one(f"{title}{label}", args, clients, seconds))
    rows = []
    for r in runs:
        five = sum(v for k, v in r["statuses"].items() if k.isdigit() and int(k) >= 500)
        # Every response to a keyed call is one log row (setup and warm-up calls included).
        rows.append([r["label"], round(r["elapsed"], 1), r["responses"], five, r["timeouts"],
                     r["logged"], r["responses"] - r["logged"],
                     json.dumps(dict(sorted(r["statuses"].items())))])
    report.table(f"{clients} concurrent clients for {seconds:g} s (half post messages, "
                 "half read lists)",
                 ["server", "s", "responses", "5xx", "client errors/timeouts",
                  "request-log rows", "responses not logged", "statuses"], rows)
    lat_rows = []
    for r in runs:
        for kind, values in r["latencies"].items():
            if values:
                s = latency_summary(values)
                lat_rows.append([r["label"], kind, len(values), round(s["p50_ms"]),
                                 round(s["p95_ms"]), round(max(values) * 1000)])
    report.table("Latency per request kind (ms)",
                 ["server", "kind", "requests", "p50", "p95", "max"], lat_rows)
    report.write(results_path(results))
    return {"runs": runs, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--servers", default="serve",
                        help="comma list of: serve (make run now), run (flask run "
                             "--with-threads, the reference)")
    parser.add_argument("--label", default="", help="appended to each server's name")
    parser.add_argument("--results", default=None)
    args = parser.parse_args()
    run(args.clients, args.seconds, tuple(args.servers.split(",")), args.results, args.label)


if __name__ == "__main__":
    main()
