"""The RQ worker class: in-process execution, queues served round-robin.

`SimpleWorker` runs jobs in the worker process (the embedding model is loaded once, not
per forked job); `RoundRobinWorker` takes the next job from the queue after the one it
just served, so the organizations of one queue shard cannot hold the worker while other
shards wait (services.jobs.queue_names).
"""
from __future__ import annotations

from rq.worker import RoundRobinWorker, SimpleWorker


class FairWorker(SimpleWorker, RoundRobinWorker):
    """Round-robin queue order (RoundRobinWorker.reorder_queues), in-process execution
    (SimpleWorker.execute_job)."""
