"""The sidebar navigation, in one list.

An entry whose page is not built yet stays in the menu, greyed out with a "soon" badge;
it lights up by itself as soon as a blueprint serves its path. Another area adds itself by
appending one `NavItem` here (or calling `NAV.add(...)` from its own module).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, request
from werkzeug.exceptions import HTTPException


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    icon: str  # name of an inline SVG in templates/partials/icons.html


@dataclass
class NavEntry:
    item: NavItem
    available: bool
    active: bool


@dataclass
class Nav:
    items: list[NavItem] = field(default_factory=list)

    def add(self, item: NavItem, *, before: str | None = None) -> None:
        """Insert an entry once (idempotent), optionally before the entry labelled `before`."""
        if any(i.path == item.path for i in self.items):
            return
        labels = [i.label for i in self.items]
        at = labels.index(before) if before in labels else len(self.items)
        self.items.insert(at, item)

    def visible(self, app: Flask) -> list[NavEntry]:
        """Entries with availability (a GET route serves the path) and the active flag."""
        adapter = app.url_map.bind("localhost")
        current = request.path if request else ""
        entries = []
        for item in self.items:
            try:
                adapter.match(item.path, method="GET")
                available = True
            except HTTPException:
                available = False
            if item.path == "/console/":
                active = current in ("/console/", "/console")
            else:
                active = current.startswith(item.path)
            entries.append(NavEntry(item=item, available=available, active=active))
        return entries


NAV = Nav([
    NavItem("Dashboard", "/console/", "home"),
    NavItem("Assistants", "/console/assistants/", "bot"),
    NavItem("Knowledge", "/console/knowledge/", "book"),
    NavItem("Sessions", "/console/sessions/", "clock"),
    NavItem("Conversations", "/console/conversations/", "chat"),
    NavItem("Analytics", "/console/analytics/", "chart"),
    NavItem("API keys", "/console/keys/", "key"),
    NavItem("Webhooks", "/console/webhooks/", "send"),
    NavItem("Team", "/console/team/", "users"),
    NavItem("Audit trail", "/console/audit/", "shield"),
    NavItem("Settings", "/console/settings/", "gear"),
])
