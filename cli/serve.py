"""`flask serve`: the embedded server `make run` uses (waitress, one process).

Why not `flask run`: Werkzeug's development server starts a thread per connection with no
bound, so 64 clients meant 64 threads racing for 15 pooled connections (500s, lost log
rows). Waitress runs a fixed pool of EMBEDDED_THREADS request threads, queues the rest of
the connections, and reads each request body completely before a thread sees it, so slow
uploads cannot hold the threads. Services mode serves with gunicorn behind nginx instead.
"""
from __future__ import annotations

import signal
import sys

import click
from flask import current_app


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", type=int, default=None,
              help="Request threads (default EMBEDDED_THREADS).")
def serve(host: str, port: int, threads: int | None) -> None:
    """Serve the app with waitress (embedded mode: in-process jobs, SQLite)."""
    from waitress import serve as waitress_serve

    # SIGTERM (a service manager stopping us) exits like Ctrl-C: atexit handlers run, so
    # queued request-log rows are written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    waitress_serve(app, host=host, port=port,
                   threads=threads or app.config["EMBEDDED_THREADS"],
                   connection_limit=app.config["EMBEDDED_CONNECTION_LIMIT"],
                   channel_timeout=120, ident="companin")
