"""Knowledge job functions: ingest (files, Q&A, URLs, refresh), re-embed, compaction."""
from __future__ import annotations

from collections.abc import Callable

from jobs import job
from models.jobs import Job
from services.knowledge import sentence_vectors
from services.knowledge.pipeline import process_sources, reembed
from services.knowledge.vectors import compact

job("ingest_source")(process_sources)
job("reembed")(reembed)


@job("compact_index")
def compact_index(row: Job, progress: Callable[[int], None]) -> None:
    """Fold an organization's index segments and tombstones into a new base, and drop
    the sentence vectors of the sources deleted meanwhile."""
    compact(row.org_id, row.params["model"])
    sentence_vectors.collect_garbage(row.org_id, row.params["model"])
    progress(100)
