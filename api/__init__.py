"""JSON API: one blueprint per resource, registered in one visible list."""
from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from api import assistants, jobs, openapi

    for module in (openapi, assistants, jobs):
        app.register_blueprint(module.bp)
