"""The process-wide FAISS store and embedder, configured from the app."""
from __future__ import annotations

from flask import current_app

from services.knowledge.embedder import Embedder, get_embedder
from services.knowledge.vector_index import VectorIndexStore


def vector_store() -> VectorIndexStore:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get("companin_vectors")
    if store is None:
        embedder = embedder_for_app()
        store = app.extensions["companin_vectors"] = VectorIndexStore(
            app.config["INDEX_DIR"], dim=embedder_dim(embedder),
            hnsw_threshold=app.config["HNSW_THRESHOLD"])
    return store


def embedder_for_app() -> Embedder:
    return get_embedder(current_app.config["EMBEDDING_MODEL"])


def embedder_dim(embedder: Embedder) -> int:
    return int(getattr(embedder, "dim", 384))
