"""Evaluations as background jobs: every test case of an assistant against one version."""
from __future__ import annotations

from collections.abc import Callable

from jobs import job
from models.jobs import Job
from services.evaluations import run_evaluation


@job("evaluation")
def evaluation_job(row: Job, progress: Callable[[int], None]) -> None:
    run_evaluation(row, progress)
