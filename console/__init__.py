"""The operator console at /console/: server-rendered pages driven by HTMX.

Views are thin: they read the form, call the same services as the JSON API and render.
`console.wiring.register_console(app)` is the one place that wires blueprints, sign-in
and error pages, so a new console area is one more blueprint in its `BLUEPRINTS`.
"""
