"""Wires every console blueprint, sign-in and error pages into the app.

Kept out of console/__init__.py so that importing one console module (``from console
import records``) never drags in every other one: the package stays a leaf, not a hub.
"""
from __future__ import annotations

from flask import Flask

from console import (
    access,
    analytics,
    assistants,
    audit,
    auth,
    conversations,
    dashboard,
    errors,
    evaluations,
    keys,
    knowledge,
    scope,
    security,
    sessions,
    settings,
    team,
    versions,
    webhooks,
)
from console.nav import NAV

# Every console blueprint's name starts with "console": factory.py exempts all other
# blueprints from CSRF, so this prefix is what keeps console forms protected.
BLUEPRINTS = (
    auth.bp, dashboard.bp, assistants.bp, versions.bp, evaluations.bp, scope.bp, keys.bp,
    team.bp, analytics.bp, knowledge.bp, sessions.bp, conversations.bp, audit.bp,
    webhooks.bp, settings.bp,
)

__all__ = ["NAV", "register_console"]


def register_console(app: Flask) -> None:
    """Attach the console to the app (called by factory.create_app when present)."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    access.init_login(app)
    errors.init_errors(app)
    security.init_security_headers(app)
    app.jinja_env.globals["console_nav"] = lambda: NAV.visible(app)
    app.jinja_env.globals["current_org"] = access.current_org_or_none
    app.jinja_env.filters["when"] = errors.format_when
    # Browsers ask for /favicon.ico whatever the page links; answer with the console's SVG
    # (a "console" endpoint name: the OpenAPI coverage test skips console routes).
    app.add_url_rule("/favicon.ico", "console_favicon",
                     lambda: app.send_static_file("favicon.svg"))
