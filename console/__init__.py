"""The operator console at /console/: server-rendered pages driven by HTMX.

Views are thin: they read the form, call the same services as the JSON API and render.
`register_console(app)` is the one place that wires blueprints, sign-in and error pages,
so a new console area (analytics, knowledge, ...) is one more blueprint in `BLUEPRINTS`.
"""
from __future__ import annotations

from flask import Flask

from console import access, assistants, auth, dashboard, errors, keys, scope, team, versions
from console.nav import NAV

# Every console blueprint's name starts with "console": factory.py exempts all other
# blueprints from CSRF, so this prefix is what keeps console forms protected.
BLUEPRINTS = (
    auth.bp, dashboard.bp, assistants.bp, versions.bp, scope.bp, keys.bp, team.bp,
)

__all__ = ["NAV", "register_console"]


def register_console(app: Flask) -> None:
    """Attach the console to the app (called by factory.create_app when present)."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    _register_optional(app)
    access.init_login(app)
    errors.init_errors(app)
    app.jinja_env.globals["console_nav"] = lambda: NAV.visible(app)
    app.jinja_env.globals["current_org"] = access.current_org_or_none
    app.jinja_env.filters["when"] = errors.format_when


def _register_optional(app: Flask) -> None:
    """Areas other teams add (console/analytics.py, console/knowledge.py, ...) register
    themselves here when their module exists and exposes a `bp` blueprint."""
    import importlib

    for name in ("analytics", "knowledge", "sessions", "conversations"):
        try:
            module = importlib.import_module(f"console.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"console.{name}":
                raise
            continue
        bp = getattr(module, "bp", None)
        if bp is not None and bp.name not in app.blueprints:
            app.register_blueprint(bp)
