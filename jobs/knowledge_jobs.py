"""Knowledge job functions: ingest (files, Q&A, URLs, refresh) and re-embed."""
from __future__ import annotations

from jobs import job
from services.knowledge.pipeline import process_sources, reembed

job("ingest_source")(process_sources)
job("reembed")(reembed)
