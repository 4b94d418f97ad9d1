"""`create_app()` with config overrides from BENCH_APP_OVERRIDES (JSON), so bench.api can
serve variants (limiter off, other flush interval) through gunicorn without touching
config.py.

    BENCH_APP_OVERRIDES='{"RATELIMIT_ENABLED": false}' gunicorn bench.app_variant:app
"""
from __future__ import annotations

import json
import os

from factory import create_app

app = create_app(json.loads(os.environ.get("BENCH_APP_OVERRIDES") or "{}"))
