"""The RQ worker class: in-process execution, queues served round-robin, and a scheduler
child that dies with its worker.

`SimpleWorker` runs jobs in the worker process (the embedding model is loaded once, not
per forked job); `RoundRobinWorker` takes the next job from the queue after the one it
just served, so the organizations of one queue shard cannot hold the worker while other
shards wait (services.jobs.queue_names).

RQ's scheduler runs in a forked child that renews its Redis lock every second. When the
worker is killed with SIGKILL that child used to live on, holding the lock, so a restarted
worker ran without a scheduler (and retries with backoff never ran). Here the child asks
the kernel for SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG), stops cleanly and
releases the lock, and the restarted worker takes it.
"""
from __future__ import annotations

import ctypes
import os
import signal
from multiprocessing.context import ForkProcess
from typing import Any

from rq.scheduler import RQScheduler
from rq.scheduler import run as run_scheduler
from rq.worker import RoundRobinWorker, SimpleWorker

PR_SET_PDEATHSIG = 1


def _run_tied_to(parent_pid: int, scheduler: RQScheduler) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        return
    run_scheduler(scheduler)


class TiedScheduler(RQScheduler):
    def start(self) -> ForkProcess:
        self._status = self.Status.STARTED
        self._connection = None  # a Redis connection cannot cross the fork (as RQ does)
        self._process = ForkProcess(target=_run_tied_to, args=(os.getpid(), self),
                                    name="Scheduler")
        self._process.start()
        return self._process


class FairWorker(SimpleWorker, RoundRobinWorker):
    """Round-robin queue order (RoundRobinWorker.reorder_queues), in-process execution
    (SimpleWorker.execute_job), a scheduler child tied to the worker's life."""

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         *args: Any, **kwargs: Any) -> None:
        self.scheduler = TiedScheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer)
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()
