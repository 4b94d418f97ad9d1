"""The process-wide FAISS stores (one per embedding model) and the models behind them.

Each model has its own directory of per-organization indexes, so vectors of two models
can never meet in one search: an organization is served by exactly one model at a time
(`Organization.embedding_model`), and a model change builds the new index beside the old
one before switching (services.knowledge.pipeline.reembed). all-MiniLM-L6-v2 keeps the
directory it always had (INDEX_DIR itself); every other model lives in INDEX_DIR/<model>.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask import current_app

from models.orgs import Organization
from services.knowledge.embedder import MINILM, Embedder, canonical_name, get_embedder
from services.jobs import enqueue
from services.knowledge.vector_index import VectorIndexStore

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def default_model() -> str:
    return canonical_name(current_app.config["EMBEDDING_MODEL"])


def org_model(org: Organization) -> str:
    """The model serving `org` now: its recorded one, else the configured default."""
    return canonical_name(org.embedding_model) if org.embedding_model else default_model()


def store_for(model: str | None = None) -> VectorIndexStore:
    """The store of `model` (default: the configured model), created once per process."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    name = canonical_name(model) if model else default_model()
    stores: dict[str, VectorIndexStore] = app.extensions.setdefault("companin_vectors", {})
    store = stores.get(name)
    if store is None:
        embedder = get_embedder(name)
        store = stores[name] = VectorIndexStore(
            _directory(name), dim=embedder_dim(embedder),
            ann_threshold=app.config["ANN_THRESHOLD"], model=name,
            cache_bytes=app.config["INDEX_CACHE_MB"] << 20,
            max_ops=app.config["INDEX_MAX_SEGMENTS"],
            max_segment_vectors=app.config["INDEX_MAX_SEGMENT_VECTORS"])
    return store


def compact_when_due(org_id: str, store: VectorIndexStore) -> None:
    """After a write: queue the org's compaction once its segments or tombstones are
    many enough (one queued compaction per organization and model)."""
    if store.needs_compaction(org_id):
        enqueue(org_id, "compact_index", target_id=store.model or MINILM,
                params={"model": store.model or MINILM})


def remove_everywhere(org_id: str, vector_ids: list[int]) -> None:
    """Tombstone vectors in every model's index of the org (a re-embed in progress may
    hold them too), queueing compaction where it is due."""
    if not vector_ids:
        return
    for store in stores_holding(org_id):
        store.remove(org_id, vector_ids)
        compact_when_due(org_id, store)


def compact(org_id: str, model: str) -> bool:
    """The compaction job's body: fold the org's segments into a new base."""
    return store_for(model).compact(org_id)


def vector_store(model: str | None = None) -> VectorIndexStore:
    """Alias of `store_for`, kept for callers that think of 'the' store."""
    return store_for(model)


def org_store(org: Organization) -> VectorIndexStore:
    return store_for(org_model(org))


def stores_holding(org_id: str) -> list[VectorIndexStore]:
    """Every model's store with an index for `org_id` (deletes must reach them all, a
    re-embed in progress included)."""
    root = Path(current_app.config["INDEX_DIR"])
    names = {MINILM} | {p.name for p in root.iterdir() if p.is_dir()} if root.exists() else set()
    result = []
    for name in sorted(names):
        try:
            store = store_for(name)
        except ValueError:  # a directory that is not a model (org_… of the legacy layout)
            continue
        if store.version(org_id) > 0:
            result.append(store)
    return result


def embedder_for_app() -> Embedder:
    return get_embedder(current_app.config["EMBEDDING_MODEL"])


def embedder_dim(embedder: Embedder) -> int:
    return int(getattr(embedder, "dim", 384))


def _directory(name: str) -> Path:
    root = Path(current_app.config["INDEX_DIR"])
    return root if name == MINILM else root / _SLUG.sub("_", name)
