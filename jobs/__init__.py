"""Job functions: plain functions registered with `@job("kind")`, taking the Job row and a
progress callback; they reload their objects through the organization filter.

Queueing and dispatch belong to the services (`services.jobs`); this package holds what
runs: the registry, the runner (`jobs.runner`) and the RQ entry point (`jobs.worker`).
"""
from __future__ import annotations

from collections.abc import Callable

from models.jobs import Job

JobFunction = Callable[[Job, Callable[[int], None]], None]
REGISTRY: dict[str, JobFunction] = {}


def job(kind: str) -> Callable[[JobFunction], JobFunction]:
    def register(fn: JobFunction) -> JobFunction:
        REGISTRY[kind] = fn
        return fn

    return register
