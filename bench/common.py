"""What every benchmark shares: timing statistics, the RESULTS.md writer, throwaway
PostgreSQL databases and Redis prefixes, gunicorn servers and the wrk driver.

Nothing here touches the product's own data: databases are named `companin_bench_*` and
dropped afterwards, Redis keys carry a `companin-bench-<run>` prefix and are deleted.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
VENV_BIN = Path(sys.executable).parent
# The PostgreSQL server (a maintenance database on it) and Redis the benchmarks use; the
# test suite's services-mode variables are honoured so the smoke tests run where it runs.
PG_SERVER_URL = (os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_DATABASE_URL")
                 or "postgresql://postgres@127.0.0.1:5432/postgres")
# Redis database 13 unless BENCH_REDIS_URL says otherwise: a test suite's teardown calls
# `limiter.reset()`, and limits' RedisStorage.reset() deletes every `LIMITS:*` key of its
# database whatever the key prefix, so a suite running on the same Redis database would
# wipe a benchmark's counters mid-run (seen on this shared machine).
BENCH_REDIS_DB = 13
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or re.sub(
    r"(redis://[^/]+)(/\d*)?$", rf"\1/{BENCH_REDIS_DB}",
    os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# --------------------------------------------------------------------------- statistics
def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation (numpy's default, PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = fraction * (len(ordered) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds."""
    ms = [s * 1000.0 for s in seconds]
    return {"p50_ms": round(percentile(ms, 0.5), 3), "p95_ms": round(percentile(ms, 0.95), 3),
            "p99_ms": round(percentile(ms, 0.99), 3), "mean_ms": round(statistics.fmean(ms), 3),
            "n": len(ms)}


def ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else float("nan")


def rss_mb() -> float:
    """Resident set size of this process (MiB), from /proc."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


# ------------------------------------------------------------------------------ results
def machine() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    load = os.getloadavg()
    return {"nproc": os.cpu_count(), "mem_gib": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "loadavg_at_start": [round(x, 2) for x in load]}


@dataclass
class Report:
    """Collects one benchmark's figures; `write()` prints and appends to RESULTS.md."""

    name: str
    argv: list[str]
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    machine: dict[str, Any] = field(default_factory=machine)
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
        self.sections.append((title, lines))
        print(f"\n## {title}")
        print("\n".join(lines), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print("note:", text, flush=True)

    def markdown(self) -> str:
        cmd = " ".join(shlex.quote(a) for a in self.argv)
        m = self.machine
        out = [f"## {self.name} — {self.started:%Y-%m-%d %H:%M} UTC", "",
               f"- command: `{cmd}`",
               f"- machine: nproc={m['nproc']}, memory={m['mem_gib']} GiB, "
               f"python {m['python']}, load average at start {m['loadavg_at_start']} "
               "(shared machine: compare the ratios, not the absolute numbers)",
               f"- wall time: {(dt.datetime.now(dt.UTC) - self.started).total_seconds():.0f} s",
               ""]
        for title, lines in self.sections:
            out += [f"**{title}**", "", *lines, ""]
        if self.notes:
            out += [f"- {n}" for n in self.notes] + [""]
        return "\n".join(out) + "\n"

    def write(self, path: Path | None = None) -> dict[str, Any]:
        path = path or RESULTS
        text = self.markdown()
        if not path.exists():
            path.write_text("# Benchmark results\n\nAppended by `python -m bench.<name>`; "
                            "newest at the bottom. Absolute numbers are noisy on the shared "
                            "2-core machine; every ratio is measured within one run.\n\n")
        with path.open("a") as fh:
            fh.write(text)
        print(f"\nappended to {path}", flush=True)
        return self.figures


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "n/a"
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def results_path(arg: str | None) -> Path:
    return Path(arg) if arg else RESULTS


# ---------------------------------------------------------------------------- services
def run_id() -> str:
    return secrets.token_hex(3)


@contextlib.contextmanager
def pg_database(tag: str, *, keep: bool = False, reuse: str | None = None) -> Iterator[str]:
    """A throwaway database `companin_bench_<tag>_<rand>`; yields its psycopg URL.

    `keep` leaves it in place (its name is printed) for a later `reuse=<name>` run, which
    drops it at the end unless `keep` is given again."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from config import normalize_database_url

    if reuse and not re.fullmatch(r"companin_bench_[a-z0-9_]+", reuse):
        raise ValueError("only companin_bench_* databases can be reused")
    name = reuse or f"companin_bench_{tag}_{run_id()}"
    admin_url = normalize_database_url(PG_SERVER_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    if not reuse:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if keep:
            print(f"kept database {name} (drop it with: DROP DATABASE {name})", flush=True)
        else:
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :n AND pid <> pg_backend_pid()"),
                             {"n": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def redis_cleanup(prefix: str) -> int:
    from redis import Redis

    r = Redis.from_url(REDIS_URL)
    n = 0
    for key in r.scan_iter(f"*{prefix}*"):
        r.delete(key)
        n += 1
    r.close()
    return n


def services_env(database_url: str, prefix: str, instance_dir: str,
                 **extra: str) -> dict[str, str]:
    """Environment for the app (CLI and gunicorn) in services mode."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANTHROPIC_API_KEY", "JOBS_MODE")}
    env.update({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
                "RATELIMIT_KEY_PREFIX": prefix, "RQ_QUEUE": prefix,
                "INSTANCE_DIR": instance_dir, "SECRET_KEY": "bench-" + prefix,
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "PYTHONPATH": str(REPO_DIR)})
    env.update(extra)
    return env


def flask_cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *args], cwd=REPO_DIR,
                         env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed: {out.stderr[-2000:]}")
    return out.stdout


def migrate(env: dict[str, str]) -> None:
    flask_cli(env, "db", "upgrade", "heads")


def child_pids(pid: int) -> list[int]:
    """A process's direct children (gunicorn's workers), from /proc."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def gunicorn(app_path: str, env: dict[str, str], *, workers: int = 2,
             worker_class: str = "sync", threads: int = 1,
             ready_path: str = "/api/v1/openapi.json") -> Iterator[Server]:
    """gunicorn on 127.0.0.1:<free port>; stopped (by its own pid) on exit."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-gunicorn-", suffix=".log")[1])
    cmd = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
           str(workers), "--worker-class", worker_class, "--threads", str(threads),
           "--log-level", "warning", "--timeout", "120", app_path]
    fh = log.open("w")
    proc = subprocess.Popen(cmd, cwd=REPO_DIR, env=env, stdout=fh, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    try:
        wait_until_serving(proc, server.base + ready_path, log)
        time.sleep(0.5 + 0.2 * workers)  # every worker must have imported the app
        yield server
    finally:
        stop_process(proc)
        fh.close()


def wait_until_serving(proc: subprocess.Popen, url: str, log: Path,
                       timeout: float = 60) -> None:
    """Poll `url` until it answers; the server's log tail in the error if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                resp.read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready: {log.read_text()[-3000:]}") from None
            time.sleep(0.2)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM (a clean exit: queued log rows are written), then kill after 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def http_json(method: str, url: str, *, key: str | None = None, body: Any = None,
              timeout: float = 30) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("X-API-Key", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw.decode(errors="replace")
        return exc.code, payload, dict(exc.headers)


# ---------------------------------------------------------------------------------- wrk
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text.strip())
    if not m:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, *, seconds: float, connections: int, threads: int = 1,
        headers: dict[str, str] | None = None, script: str | None = None) -> dict[str, float]:
    """One bounded wrk run; req/s, p50/p99 latency (ms), non-2xx count, error count."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(round(seconds)))}s",
           "--latency", "--timeout", "10s"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     out)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not parse wrk output:\n{out}")
    return {"rps": float(rps.group(1)), "p50_ms": _ms(p50.group(1)),
            "p99_ms": _ms(p99.group(1)), "requests": int(total.group(1)),
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(int(x) for x in errs.groups()) if errs else 0}


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-figure median over repeated runs (interleaved with the reference's runs)."""
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys}


@dataclass
class Stack:
    """A migrated throwaway database plus a Redis key prefix and instance dir of its own."""

    url: str
    env: dict[str, str]
    prefix: str
    instance: str


@contextlib.contextmanager
def services_stack(tag: str, **extra_env: str) -> Iterator[Stack]:
    """Services mode for one benchmark run; the database and Redis keys go afterwards."""
    prefix = f"companin-{tag}-{run_id()}"
    instance = tempfile.mkdtemp(prefix=f"companin-{tag}-")
    try:
        with pg_database(tag) as url:
            env = services_env(url, prefix, instance, **extra_env)
            migrate(env)
            yield Stack(url, env, prefix, instance)
    finally:
        redis_cleanup(prefix)
