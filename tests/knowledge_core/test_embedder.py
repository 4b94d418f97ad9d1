"""The real bundled models, loaded offline: multilingual-e5-small (default) and
all-MiniLM-L6-v2 (English, still selectable)."""
from __future__ import annotations

import numpy as np
import pytest

from services.knowledge.embedder import (
    E5Embedder,
    Embedder,
    MiniLMEmbedder,
    canonical_name,
    encode_query,
    get_embedder,
    normalize,
    register_embedder,
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder()


def test_vectors_are_384_float32_and_normalized(embedder):
    vectors = embedder.encode(["How do I reset my password?", "Shipping takes 4 days.", "x"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)
    assert isinstance(embedder, Embedder)


def test_paraphrase_ranks_above_unrelated_sentence(embedder):
    query, paraphrase, unrelated = embedder.encode([
        "How can I change my account password?",
        "Steps to reset the password of your account",
        "The weather in Bergen is rainy in November",
    ])
    assert query @ paraphrase > query @ unrelated + 0.2


def test_registry_returns_one_instance_and_knows_aliases(embedder):
    assert isinstance(embedder, E5Embedder)
    assert get_embedder("multilingual-e5-small") is embedder
    assert isinstance(get_embedder("intfloat/multilingual-e5-small"), E5Embedder)
    assert isinstance(get_embedder("sentence-transformers/all-MiniLM-L6-v2"), MiniLMEmbedder)
    assert canonical_name("intfloat/multilingual-e5-small") == "multilingual-e5-small"
    with pytest.raises(ValueError):
        get_embedder("no-such-model")


def test_multilingual_model_matches_across_languages(embedder):
    """English and Italian questions find the Italian passage that answers them."""
    passages = embedder.encode([
        "Il bollitore Casa Bella ha una garanzia di due anni dalla data di acquisto.",
        "Le spedizioni in Sardegna arrivano in cinque giorni lavorativi.",
    ])
    for question, right in (("How long is the kettle warranty?", 0),
                            ("Quanto dura la garanzia del bollitore?", 0),
                            ("How long does delivery to Sardinia take?", 1)):
        scores = passages @ embedder.encode_queries([question])[0]
        assert scores[right] > scores[1 - right]


def test_english_model_stays_selectable():
    minilm = get_embedder("all-MiniLM-L6-v2")
    vectors = minilm.encode(["How do I reset my password?"])
    assert vectors.shape == (1, 384)
    assert np.allclose(minilm.encode_queries(["How do I reset my password?"]), vectors,
                       atol=1e-5)


def test_encode_query_is_cached_and_read_only(embedder):
    first = encode_query("where is my order?")
    second = encode_query("where is my order?")
    assert first is second
    assert first.shape == (384,)
    assert not first.flags.writeable
    assert np.allclose(first, embedder.encode_queries(["where is my order?"])[0], atol=1e-5)
    # E5 embeds a question differently from the same words as a passage.
    assert not np.allclose(first, embedder.encode(["where is my order?"])[0], atol=1e-3)


class _HashEmbedder:
    """A second embedder configured through the registry (dimension 8)."""

    name = "hash-8"
    dim = 8

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        rows = [[(hash((t, i)) % 1000) + 1.0 for i in range(self.dim)] for t in texts]
        return normalize(np.asarray(rows, dtype=np.float32).reshape(-1, self.dim))


def test_another_embedder_can_be_registered():
    register_embedder("hash-8", _HashEmbedder)
    other = get_embedder("hash-8")
    assert other.dim == 8
    assert encode_query("hello", "hash-8").shape == (8,)
