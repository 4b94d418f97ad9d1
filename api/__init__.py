"""JSON API: one blueprint per resource, registered in one visible list."""
from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from api import analytics, assistants, audit, health, jobs, keys, openapi
    from api import contexts, conversations, knowledge, sessions, webhooks

    for module in (health, openapi, assistants, jobs, knowledge, analytics, sessions, contexts,
                   conversations, keys, audit, webhooks):
        app.register_blueprint(module.bp)
