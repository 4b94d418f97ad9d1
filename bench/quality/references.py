"""The references the product is compared with, on the same documents and queries:
plain BM25 (bm25s) and each raw embedding model with exact cosine search.

Raw embeddings are cached on disk outside the repository, one file per (model, dataset,
passages|queries), keyed by the sha256 of each text, so a re-run only encodes what is new.
Each model's folder keeps its vector for one probe sentence; when the model or its engine
changes, the stale vectors are dropped rather than served.
"""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.quality.data import Dataset

DEFAULT_CACHE_DIR = Path(os.path.expanduser("~/.cache/companin/bench-quality"))
DEPTH = 100  # every reference ranks this many documents (Recall@100)
SAVE_EVERY = 256  # texts encoded between cache writes, so an interrupted run keeps them
_PROBE = "Companin bench probe: the quick brown fox / la volpe veloce."
BM25_TOKENS = r"(?u)\b\w\w+\b"  # bm25s's default: words of two or more characters


# ------------------------------------------------------------------------------- BM25
def bm25_rankings(data: Dataset, *, stemmed: bool = False,
                  depth: int = DEPTH) -> list[list[str]]:
    """bm25s, Lucene BM25 (k1=1.5, b=0.75), lowercased word tokens (2+ characters).
    Plain: no stop words, no stemming, accents kept. Stemmed: Snowball (PyStemmer) for
    the dataset's language plus bm25s's stop-word list for it. Documents scoring 0 (no
    shared token) are not ranked."""
    import bm25s

    stemmer, stopwords = None, None
    if stemmed:
        import Stemmer

        language = {"it": "italian", "en": "english"}[data.language]
        stemmer, stopwords = Stemmer.Stemmer(language), data.language
    corpus = bm25s.tokenize([d.text for d in data.docs], lower=True, stopwords=stopwords,
                            stemmer=stemmer, token_pattern=BM25_TOKENS, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    queries = bm25s.tokenize([q.text for q in data.queries], lower=True, stopwords=stopwords,
                             stemmer=stemmer, token_pattern=BM25_TOKENS, return_ids=False,
                             show_progress=False)
    k = min(depth, len(data.docs))
    docs, scores = retriever.retrieve(queries, k=k, show_progress=False, n_threads=1)
    ids = [d.id for d in data.docs]
    return [[ids[i] for i, s in zip(row, srow, strict=True) if s > 0]
            for row, srow in zip(docs, scores, strict=True)]


# ------------------------------------------------------------------------- raw models
def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class EmbeddingCache:
    """Vectors of one model for one (dataset, kind), in a single .npz file."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = Path(folder) / f"{name}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as saved:
                keys, vecs = saved["keys"], saved["vectors"]
            self.vectors = {str(k): v for k, v in zip(keys, vecs, strict=True)}

    def save(self) -> None:
        if not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.vectors))
        vecs = np.stack([self.vectors[k] for k in keys]).astype(np.float32)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, self.path)


def model_folder(cache_dir: Path, embedder: object) -> Path:
    """<cache>/<model>/, checked against the model's vector for a probe sentence kept
    there: if the model or its engine changed, the stale vectors are dropped."""
    folder = Path(cache_dir) / str(embedder.name).replace("/", "_")
    probe = np.asarray(embedder.encode([_PROBE]), dtype=np.float32)[0]
    saved = folder / "probe.npy"
    if saved.exists():
        if float(np.dot(np.load(saved), probe)) >= 0.999:
            return folder
        print(f"   {folder}: the model's vectors changed; dropping the cached ones",
              flush=True)
        for old in folder.glob("*.npz"):
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    np.save(saved, probe)
    return folder


def cached_encode(embedder: object, texts: Sequence[str], cache: EmbeddingCache, *,
                  queries: bool, label: str) -> tuple[np.ndarray, dict[str, float]]:
    """Vectors for `texts` (cache first); returns them and what encoding the misses cost."""
    keys = [text_key(t) for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in cache.vectors))
    by_key = dict(zip(keys, texts, strict=True))
    encode = embedder.encode_queries if queries else embedder.encode
    started = time.perf_counter()
    for start in range(0, len(missing), SAVE_EVERY):
        part = missing[start:start + SAVE_EVERY]
        vecs = encode([by_key[k] for k in part])
        cache.vectors.update(zip(part, np.asarray(vecs, dtype=np.float32), strict=True))
        cache.save()
        done, spent = start + len(part), time.perf_counter() - started
        eta = (len(missing) - done) * spent / done
        print(f"   {label}: encoded {done:,}/{len(missing):,} new ({done / spent:.1f}/s, "
              f"~{eta / 60:.0f} min left)", flush=True)
    spent = time.perf_counter() - started
    fresh = set(missing)
    matrix = np.stack([cache.vectors[k] for k in keys]).astype(np.float32)
    return matrix, {"encoded": len(missing), "cached": sum(k not in fresh for k in keys),
                    "seconds": round(spent, 2),
                    "per_s": round(len(missing) / spent, 2) if missing else None}


def exact_rankings(doc_vecs: np.ndarray, query_vecs: np.ndarray, doc_ids: list[str],
                   depth: int = DEPTH) -> list[list[str]]:
    """Exact cosine top-`depth` (vectors are unit length: inner product)."""
    k = min(depth, len(doc_ids))
    out = []
    for start in range(0, len(query_vecs), 512):
        scores = query_vecs[start:start + 512] @ doc_vecs.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, cand in zip(scores, top, strict=True):
            order = cand[np.argsort(-row[cand], kind="stable")]
            out.append([doc_ids[i] for i in order])
    return out


def model_rankings(data: Dataset, model: str, cache_dir: Path
                   ) -> tuple[list[list[str]], dict[str, object]]:
    from services.knowledge.embedder import get_embedder

    embedder = get_embedder(model)
    t = time.perf_counter()
    folder = model_folder(cache_dir, embedder)  # also loads the model
    load_s = time.perf_counter() - t
    passages = EmbeddingCache(folder, f"{data.key}-passages")
    questions = EmbeddingCache(folder, f"{data.key}-queries")
    doc_vecs, p_cost = cached_encode(embedder, [d.text for d in data.docs], passages,
                                     queries=False, label=f"{model} passages")
    q_vecs, q_cost = cached_encode(embedder, [q.text for q in data.queries], questions,
                                   queries=True, label=f"{model} queries")
    rankings = exact_rankings(doc_vecs, q_vecs, [d.id for d in data.docs])
    return rankings, {"load_s": round(load_s, 2), "passages": p_cost, "queries": q_cost,
                      "cache": str(folder)}


def encode_rate(model: str, texts: Sequence[str]) -> dict[str, float]:
    """Fresh (uncached) passage encoding of `texts`, model already loaded and warm."""
    from services.knowledge.embedder import get_embedder

    embedder = get_embedder(model)
    embedder.encode(["warm up"])
    t = time.perf_counter()
    embedder.encode(list(texts))
    seconds = time.perf_counter() - t
    return {"texts": len(texts), "seconds": round(seconds, 3),
            "per_s": round(len(texts) / seconds, 2) if seconds else float("nan"),
            "s_per_text": round(seconds / max(1, len(texts)), 4)}
