"""Every setting, read from the environment, with the embedded defaults.

No variable set → embedded mode: SQLite under instance/, in-memory limiter, jobs in-process.
`DATABASE_URL` + `REDIS_URL` → services mode (PostgreSQL, Redis limiter storage, RQ queue).
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from services.knowledge.url_guard import parse_networks

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))


def _bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    """The first choice is the default; anything else stops start-up with a clear error."""
    raw = (os.environ.get(name) or allowed[0]).strip().lower()
    if raw not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)} (got {raw!r}).")
    return raw


def normalize_database_url(url: str) -> str:
    """Route plain postgres URLs to psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    """Loaded once by create_app; tests pass overrides as a dict."""

    def __init__(self) -> None:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or _dev_secret()
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'companin.db'}"
        )
        # No pre-ping (a round trip on every checkout): a connection killed by a database
        # restart fails one statement, which invalidates the pool; authentication and GET
        # views run once more on a fresh one (services/db_retry.py). Recycling bounds a
        # connection's age.
        # The embedded server runs EMBEDDED_THREADS request threads plus job threads and
        # the log writer, each holding at most one connection: the pool covers them all.
        self.EMBEDDED_THREADS = max(1, _int("EMBEDDED_THREADS", 16))
        # Proxies in front of the app that set X-Forwarded-For/-Proto (1 behind the nginx
        # of deploy/nginx-companin.conf). 0 trusts no header: the socket's address counts.
        self.PROXY_HOPS = max(0, _int("PROXY_HOPS", 0))
        # Connections the embedded server accepts at once; more wait in the listen backlog.
        self.EMBEDDED_CONNECTION_LIMIT = max(1, _int("EMBEDDED_CONNECTION_LIMIT", 200))
        sqlite = self.SQLALCHEMY_DATABASE_URI.startswith("sqlite")
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            "pool_recycle": _int("DB_POOL_RECYCLE_SECONDS", 1800),
            "pool_size": _int("DB_POOL_SIZE", self.EMBEDDED_THREADS + 8 if sqlite else 5),
            "max_overflow": _int("DB_MAX_OVERFLOW", 10),
        }
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        # Jobs: "thread" (embedded: in-process background thread), "sync" (run inline after
        # commit; used by tests), "rq" (services mode). Default follows REDIS_URL.
        self.JOBS_MODE = os.environ.get("JOBS_MODE") or ("rq" if self.REDIS_URL else "thread")
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "companin")
        # Organizations are spread over this many queues, served round-robin (fairness).
        self.RQ_QUEUE_SHARDS = max(1, _int("RQ_QUEUE_SHARDS", 8))
        self.JOB_TIMEOUT_SECONDS = _int("JOB_TIMEOUT_SECONDS", 600)
        # Running jobs beat every JOB_HEARTBEAT_SECONDS; one silent for JOB_STALE_SECONDS
        # (a killed worker) is failed by the sweeper and can be retried.
        self.JOB_HEARTBEAT_SECONDS = _float("JOB_HEARTBEAT_SECONDS", 10.0)
        self.JOB_STALE_SECONDS = _int("JOB_STALE_SECONDS", 60)
        # Embedded mode: in-process job threads (two: one big source cannot hold the rest).
        self.JOB_THREADS = max(1, _int("JOB_THREADS", 2))
        # How often (seconds) a web process sweeps stuck jobs on its own.
        self.JOB_SWEEP_INTERVAL_SECONDS = _int("JOB_SWEEP_INTERVAL_SECONDS", 30)
        # Backoff (seconds) between RQ retries of a job that failed transiently.
        self.JOB_RETRY_INTERVALS = [
            int(x) for x in os.environ.get("JOB_RETRY_INTERVALS", "5,30,120").split(",") if x]
        self.INDEX_DIR = os.environ.get("INDEX_DIR") or str(INSTANCE_DIR / "indexes")
        self.STORAGE_DIR = os.environ.get("STORAGE_DIR") or str(INSTANCE_DIR / "storage")
        self.MAX_CONTENT_LENGTH = _int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
        self.MAX_JSON_BYTES = _int("MAX_JSON_BYTES", 1024 * 1024)

        # Governance
        self.DEFAULT_RATE_LIMIT_PER_HOUR = _int("DEFAULT_RATE_LIMIT_PER_HOUR", 100)
        self.PLATFORM_RATE_LIMIT_PER_HOUR = _int("PLATFORM_RATE_LIMIT_PER_HOUR", 10000)
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or (
            self.REDIS_URL or "memory://"
        )
        self.RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "companin")
        # services.ratelimit: the fixed window in one Redis round trip per request.
        self.RATELIMIT_STRATEGY = "companin-fixed-window"
        # Seconds a verified key may be served from a process's cache (services mode); every
        # request still confirms it against the organization's version in Redis.
        self.KEY_CACHE_SECONDS = _float("KEY_CACHE_SECONDS", 60.0)
        self.RATELIMIT_HEADERS_ENABLED = True
        # Seconds between last_used_at writes for one key (avoids a write per request).
        self.KEY_LAST_USED_RESOLUTION = _int("KEY_LAST_USED_RESOLUTION", 60)
        # 0 = write each request-log row synchronously; >0 = batch rows and flush at most
        # every N seconds from a background thread (one INSERT for many requests). Services
        # mode batches by default: the per-request INSERT+COMMIT was 30% of a keyed call.
        self.REQUEST_LOG_FLUSH_SECONDS = _float(
            "REQUEST_LOG_FLUSH_SECONDS", 0.5 if self.REDIS_URL else 0.0)
        # Rows waiting for the database beyond this are dropped (oldest first) and counted
        # in /healthz: an outage must not exhaust a worker's memory.
        self.REQUEST_LOG_QUEUE_MAX = _int("REQUEST_LOG_QUEUE_MAX", 10_000)
        self.REQUEST_LOG_RETENTION_DAYS = _int("REQUEST_LOG_RETENTION_DAYS", 90)
        # Analytics ranges longer than this read complete past hours from hourly rollups.
        self.ANALYTICS_ROLLUP_MIN_HOURS = _float("ANALYTICS_ROLLUP_MIN_HOURS", 48.0)
        # Hours are rolled up only once this long past their end (late log rows land first).
        self.ANALYTICS_ROLLUP_GRACE_SECONDS = _float("ANALYTICS_ROLLUP_GRACE_SECONDS", 300.0)

        # Sessions
        self.DEFAULT_SESSION_TTL_SECONDS = _int("DEFAULT_SESSION_TTL_SECONDS", 30 * 60)

        # AI
        self.ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY") or None
        self.ANTHROPIC_BASE_URL = os.environ.get("ANTHROPIC_BASE_URL") or None
        self.DEFAULT_CHAT_MODEL = os.environ.get("DEFAULT_CHAT_MODEL", "claude-sonnet-4-5")
        self.DEFAULT_SUMMARIZE_MODEL = os.environ.get(
            "DEFAULT_SUMMARIZE_MODEL", "claude-haiku-4-5"
        )
        # Answers from the model: one time budget per answer (retries and continuations
        # included), what a model error does ("fallback": the local engine answers and the
        # reply records why; "fail": 502 llm_error), and how a reply cut by max_tokens is
        # continued (up to LLM_MAX_CONTINUATIONS more calls, then stored as truncated).
        self.ANTHROPIC_TIMEOUT_SECONDS = _float("ANTHROPIC_TIMEOUT_SECONDS", 60.0)
        self.LLM_FAILURE_MODE = _choice("LLM_FAILURE_MODE", ("fallback", "fail"))
        self.LLM_MAX_TOKENS = _int("LLM_MAX_TOKENS", 1024)
        self.LLM_MAX_CONTINUATIONS = _int("LLM_MAX_CONTINUATIONS", 2)
        # multilingual-e5-small (default) or all-MiniLM-L6-v2 (English only); see README.
        self.EMBEDDING_MODEL = os.environ.get("EMBEDDING_MODEL", "multilingual-e5-small")
        self.DEFAULT_ORG_LANGUAGES = [
            code.strip().lower() for code in
            os.environ.get("DEFAULT_ORG_LANGUAGES", "en,it").split(",") if code.strip()]
        # Vector index (services/knowledge/vector_index.py): above ANN_THRESHOLD vectors an
        # organization's base is an IVF index; writes go to small segments that compaction
        # folds in once there are INDEX_MAX_SEGMENTS of them or INDEX_MAX_SEGMENT_VECTORS
        # vectors; each process caches at most INDEX_CACHE_MB of loaded indexes (LRU).
        self.ANN_THRESHOLD = _int("ANN_THRESHOLD", _int("HNSW_THRESHOLD", 200_000))
        self.INDEX_MAX_SEGMENTS = max(2, _int("INDEX_MAX_SEGMENTS", 16))
        self.INDEX_MAX_SEGMENT_VECTORS = max(100, _int("INDEX_MAX_SEGMENT_VECTORS", 20_000))
        self.INDEX_CACHE_MB = max(16, _int("INDEX_CACHE_MB", 1024))
        self.REEMBED_BATCH_SIZE = max(1, _int("REEMBED_BATCH_SIZE", 256))
        # A source of more chunks than this is indexed in pieces: each job embeds for at
        # most INGEST_PIECE_SECONDS, then queues the next piece behind other work.
        self.INGEST_PIECE_CHUNKS = max(1, _int("INGEST_PIECE_CHUNKS", 1000))
        self.INGEST_PIECE_SECONDS = max(1.0, _float("INGEST_PIECE_SECONDS", 120.0))
        self.INGEST_PIECE_BATCH = max(1, _int("INGEST_PIECE_BATCH", 256))  # chunks per commit

        # Outbound fetches (URL knowledge). Loopback is for tests only; off by default.
        self.URL_FETCH_ALLOW_LOOPBACK = _bool("URL_FETCH_ALLOW_LOOPBACK", False)
        self.URL_FETCH_TIMEOUT_SECONDS = _float("URL_FETCH_TIMEOUT_SECONDS", 10.0)
        self.URL_FETCH_MAX_BYTES = _int("URL_FETCH_MAX_BYTES", 5 * 1024 * 1024)
        # Private networks an operator lets URL sources and webhooks reach (an on-premise
        # CRM): comma-separated CIDRs, default none. Metadata addresses stay refused.
        self.OUTBOUND_ALLOW_CIDRS = parse_networks(os.environ.get("OUTBOUND_ALLOW_CIDRS"))
        # Per-organization retention runs this often (embedded: a background thread started
        # by a request; services: a self-renewing RQ job on the workers' scheduler); 0 = only
        # `flask retention run` from cron.
        self.RETENTION_INTERVAL_SECONDS = max(0, _int("RETENTION_INTERVAL_SECONDS", 3600))
        # Webhooks: one attempt's time limit, and the waits before each retry (seconds).
        self.WEBHOOK_TIMEOUT_SECONDS = _float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
        self.WEBHOOK_RETRY_SECONDS = [int(x) for x in os.environ.get(
            "WEBHOOK_RETRY_SECONDS", "10,60,300,1800,7200").split(",") if x.strip()]

        # Console
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Secure by default in services mode (served behind TLS); in any mode the cookie is
        # also Secure whenever the request itself came over HTTPS (console.security).
        self.SESSION_COOKIE_SECURE = _bool(
            "SESSION_COOKIE_SECURE", bool(os.environ.get("DATABASE_URL") and self.REDIS_URL))
        self.REMEMBER_COOKIE_HTTPONLY = True
        # A console session ends after this long without a request (Flask checks the signed
        # cookie's age; every request renews it).
        self.CONSOLE_SESSION_IDLE_HOURS = _float("CONSOLE_SESSION_IDLE_HOURS", 12.0)
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=self.CONSOLE_SESSION_IDLE_HOURS)
        self.WTF_CSRF_TIME_LIMIT = None
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10/minute")
        # API calls without a valid key, per client address (a flood is refused with 429,
        # audited once a minute and not written to the request log row by row).
        self.ANON_RATE_LIMIT = os.environ.get("ANON_RATE_LIMIT", "60/minute")
        # How long the first answer to a POST with an Idempotency-Key is kept for retries.
        self.IDEMPOTENCY_TTL_HOURS = max(1.0, _float("IDEMPOTENCY_TTL_HOURS", 24.0))
        # Per-account sign-in back-off: free failures, then waits doubling from the base.
        self.LOGIN_FREE_FAILURES = max(1, _int("LOGIN_FREE_FAILURES", 5))
        self.LOGIN_BACKOFF_BASE_SECONDS = max(1, _int("LOGIN_BACKOFF_BASE_SECONDS", 15))
        self.LOGIN_BACKOFF_MAX_SECONDS = max(1, _int("LOGIN_BACKOFF_MAX_SECONDS", 900))

        self.TESTING = False


def _dev_secret() -> str:
    """A per-instance secret kept on disk so embedded sessions survive restarts."""
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
