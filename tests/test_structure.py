"""The import graph stays a tree of layers: no circles, and the services (which own every
rule and every commit) never reach into the job runner or the web layer."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.source_scan import parse

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "cli", "console", "jobs", "models", "services")
TOP = ("config", "errors", "extensions", "factory", "wsgi")


def _modules() -> dict[str, Path]:
    found = {name: ROOT / f"{name}.py" for name in TOP if (ROOT / f"{name}.py").exists()}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_there_are_no_import_circles_even_through_lazy_imports():
    assert _cycles(_graph()) == []


def test_services_and_models_never_import_jobs_api_console_or_the_factory():
    graph = _graph()
    offenders = {name: sorted(d for d in deps if d.split(".")[0] in
                              ("jobs", "api", "console", "factory", "cli"))
                 for name, deps in graph.items() if name.split(".")[0] in ("services", "models")}
    assert {k: v for k, v in offenders.items() if v} == {}
