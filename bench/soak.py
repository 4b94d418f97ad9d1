"""Bounded soak: 2 gunicorn workers + 1 RQ worker on PostgreSQL + Redis, three
organizations mixing chat, ingestion and analytics for a fixed time.

Afterwards every accepted message and feedback must be stored (counted in the database),
no response may be a 5xx, and each process's memory must stay roughly flat (RSS sampled
after warm-up and at the end). Run: `python -m bench.soak --seconds 300`; the test suite
runs it for ~40 s in services mode (tests/soak)."""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import (
    child_pids,
    services_stack,
    REPO_DIR,
    VENV_BIN,
    Report,
    flask_cli,
    gunicorn,
    http_json,
    results_path,
)

QUESTIONS = ["Do you ship to Malta?", "How long is the kettle warranty?",
             "Can I pay by PayPal?", "Where is my parcel?", "Do you sell bicycles?"]


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _multipart(url: str, key: str, name: str, data: bytes) -> int:
    import urllib.error
    import urllib.request

    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("X-API-Key", key)
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def run(seconds: float = 300.0, orgs: int = 3, clients_per_org: int = 2,
        results: str | None = None) -> dict[str, Any]:
    report = Report("bench.soak", ["python", "-m", "bench.soak", "--seconds", f"{seconds:g}"])
    figures: dict[str, Any] = {"statuses": {}}
    lock = threading.Lock()
    with services_stack("soak", JOB_RETRY_INTERVALS="1,2") as stack:
        env, instance = stack.env, stack.instance
        tenants = []
        for i in range(orgs):
            org = json.loads(flask_cli(env, "org", "create", f"Soak {i}",
                                       "--rate-limit", "10000000"))
            tenants.append(org)
        worker_log = Path(instance) / "worker.log"
        worker = subprocess.Popen(
            [str(VENV_BIN / "flask"), "--app", "wsgi", "jobs", "worker"],
            cwd=REPO_DIR, env=env, stdout=worker_log.open("w"), stderr=subprocess.STDOUT)
        try:
            with gunicorn("wsgi:app", env, workers=2, worker_class="gthread",
                          threads=4) as server:
                figures.update(_drive(server, worker, tenants, seconds,
                                      clients_per_org, lock))
                figures["stored"] = _count_stored(env)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    sent, stored = figures["sent"], figures["stored"]
    report.table("Traffic", ["figure", "value"], [
        ["duration s", round(figures["elapsed"], 1)],
        ["requests", sum(figures["statuses"].values())],
        ["status counts", dict(sorted(figures["statuses"].items()))],
        ["5xx responses", figures["server_errors"]],
        ["messages accepted / stored (user+reply)",
         f"{sent['messages']} / {stored['messages']}"],
        ["feedback accepted / stored", f"{sent['feedback']} / {stored['feedback']}"],
        ["uploads accepted", sent["uploads"]],
        ["analytics calls", sent["analytics"]]])
    report.table("Memory (RSS MiB): at a third of the run (warm) → end",
                 ["process", "start", "end", "growth"],
                 [[name, round(a, 1), round(b, 1), round(b - a, 1)]
                  for name, (a, b) in figures["rss"].items()])
    report.write(results_path(results))
    figures["report"] = report
    return figures


def _drive(server: Any, worker: subprocess.Popen, tenants: list[dict], seconds: float,
           clients_per_org: int, lock: threading.Lock) -> dict[str, Any]:
    base = server.base
    statuses: dict[int, int] = {}
    sent = {"messages": 0, "feedback": 0, "uploads": 0, "analytics": 0}

    def record(code: int) -> None:
        with lock:
            statuses[code] = statuses.get(code, 0) + 1

    # Knowledge and a conversation per org (warm-up: the worker loads the model here).
    convs = []
    for t in tenants:
        key = t["api_key"]
        code, body, _ = http_json("POST", base + "/api/v1/knowledge/qas/", key=key, body={
            "items": [{"question": q, "answer": f"Answer {i}: yes, within {i + 2} days."}
                      for i, q in enumerate(QUESTIONS[:4])]})
        record(code)
        code, asst, _ = http_json("POST", base + "/api/v1/assistants/", key=key,
                                  body={"name": "Soak"})
        record(code)
        convs.append((key, asst["id"]))
    time.sleep(8)
    procs = {"gunicorn master": server.proc.pid, "rq worker": worker.pid}
    for n, pid in enumerate(child_pids(server.proc.pid)):
        procs[f"gunicorn worker {n}"] = pid
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    rss_start: dict[str, float] = {}

    def sample_after_warmup() -> None:
        # Each process loads the embedding model on its first search: memory is compared
        # from a third of the run (everything warm) to the end.
        time.sleep(seconds / 3)
        rss_start.update({name: _rss_mb(pid) for name, pid in procs.items()})

    sampler = threading.Thread(target=sample_after_warmup, daemon=True)
    sampler.start()

    def client(key: str, assistant_id: str, seed: int) -> None:
        rng = random.Random(seed)
        code, sess, _ = http_json("POST", base + "/api/v1/sessions/", key=key,
                                  body={"assistant_id": assistant_id, "channel": "soak"})
        record(code)
        code, conv, _ = http_json("POST", base + "/api/v1/conversations/", key=key,
                                  body={"session_id": sess["id"]})
        record(code)
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.55:
                code, body, _ = http_json(
                    "POST", f"{base}/api/v1/conversations/{conv['id']}/messages", key=key,
                    body={"content": rng.choice(QUESTIONS)})
                record(code)
                if code == 201:
                    with lock:
                        sent["messages"] += 2
                    if rng.random() < 0.5:
                        fcode, _, _ = http_json(
                            "POST", f"{base}/api/v1/conversations/{conv['id']}/feedback",
                            key=key, body={"rating": rng.randint(1, 5),
                                           "message_id": body["reply"]["id"],
                                           "actor": {"type": "customer"}})
                        record(fcode)
                        if fcode == 201:
                            with lock:
                                sent["feedback"] += 1
            elif roll < 0.65:
                code = _multipart(base + "/api/v1/knowledge/files/", key, "note.txt",
                                  f"Soak note {uuid.uuid4()} about store opening hours "
                                  f"and delivery number {rng.randint(1, 10**6)}.".encode())
                record(code)
                if code in (200, 202):
                    with lock:
                        sent["uploads"] += 1
            else:
                path = rng.choice(["/analytics/usage/?interval=hour", "/analytics/endpoints/",
                                   "/analytics/logs/?limit=20", "/analytics/feedback/"])
                code, _, _ = http_json("GET", base + path, key=key)
                record(code)
                with lock:
                    sent["analytics"] += 1

    threads = [threading.Thread(target=client, args=(key, aid, i * 100 + j))
               for i, (key, aid) in enumerate(convs) for j in range(clients_per_org)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=seconds + 120)
    elapsed = time.monotonic() - started
    sampler.join(timeout=5)
    rss_end = {name: _rss_mb(pid) for name, pid in procs.items()}
    return {"statuses": statuses, "sent": sent, "elapsed": elapsed,
            "server_errors": sum(v for k, v in statuses.items() if k >= 500),
            "rss": {name: (rss_start[name], rss_end[name]) for name in procs}}


def _count_stored(env: dict[str, str]) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(env["DATABASE_URL"].replace("postgresql://",
                                                        "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        messages = conn.execute(text(
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "JOIN sessions s ON s.id = c.session_id WHERE s.channel = 'soak'")).scalar_one()
        feedback = conn.execute(text("SELECT count(*) FROM feedback")).scalar_one()
    engine.dispose()
    return {"messages": int(messages), "feedback": int(feedback)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--orgs", type=int, default=3)
    parser.add_argument("--clients-per-org", type=int, default=2)
    parser.add_argument("--results", default=None)
    args = parser.parse_args()
    figures = run(args.seconds, args.orgs, args.clients_per_org, args.results)
    print(figures["report"].markdown())


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
