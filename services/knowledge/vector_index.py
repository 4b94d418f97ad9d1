"""Per-organization FAISS indexes on disk, safe across processes.

Layout, per org: `org_<id>/index.v<N>.faiss`, `ids.v<N>.npy`, `vectors.v<N>.npy` and a
`CURRENT` file naming N. The ids+vectors pair is the source of truth; the FAISS file is
derived from it. That makes removal exact for every index type: HNSW cannot delete
in place, so every write rebuilds the index from the stored vectors.

Writers take an exclusive `flock` on the org's lock file, write version N+1 next to N
(temp file + fsync + os.replace) and only then switch `CURRENT`, so a reader sees either
the old or the new version, never a half-written one. Readers keep (version, index) in
memory and re-read the tiny `CURRENT` file on every search to notice other processes'
writes. The two newest versions are kept so a reader that just read `CURRENT` can still
open the files it names.

Reuse one `VectorIndexStore` per process: its cache is what makes searches cheap.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

_ORG_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VERSIONED = re.compile(r"^(?:index|ids|vectors)\.v(\d+)\.(?:faiss|npy)$")
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# With a filter on an HNSW index, score up to this many allowed vectors exactly instead
# of trusting the graph walk, which can miss allowed items hidden behind filtered ones.
EXACT_FILTER_LIMIT = 50_000


@dataclass
class _Snapshot:
    version: int
    index: faiss.Index
    ids: np.ndarray | None = None
    vectors: np.ndarray | None = None
    order: np.ndarray | None = None  # argsort of ids, for exact filtered lookups
    sorted_ids: np.ndarray | None = None


class VectorIndexStore:
    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        dim: int = 384,
        hnsw_threshold: int = 200_000,
        keep_versions: int = 2,
        model: str | None = None,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.dim = dim
        # Recorded in each org index (`MODEL`) and checked on every write, so vectors of
        # two models can never be written into one index.
        self.model = model
        self.hnsw_threshold = hnsw_threshold
        self.keep_versions = max(2, keep_versions)
        self._cache: dict[str, _Snapshot] = {}
        self._cache_lock = threading.Lock()

    # ----------------------------------------------------------------- writes
    def add(self, org_id: int | str, ids: np.ndarray, vectors: np.ndarray) -> int:
        """Insert or replace vectors by id (an existing id is overwritten, never duplicated)."""
        new_ids, new_vecs = self._validate(ids, vectors)
        # Within one call the last occurrence of an id wins.
        _, last = np.unique(new_ids[::-1], return_index=True)
        keep = np.sort(len(new_ids) - 1 - last)
        new_ids, new_vecs = new_ids[keep], new_vecs[keep]

        def apply(old_ids: np.ndarray, old_vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mask = ~np.isin(old_ids, new_ids)
            return (
                np.concatenate([old_ids[mask], new_ids]),
                np.concatenate([old_vecs[mask], new_vecs]),
            )

        return self._write(org_id, apply)

    def remove(self, org_id: int | str, ids: np.ndarray | list[int]) -> int:
        drop = np.asarray(ids, dtype=np.int64).ravel()

        def apply(old_ids: np.ndarray, old_vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mask = ~np.isin(old_ids, drop)
            return old_ids[mask], old_vecs[mask]

        return self._write(org_id, apply)

    def rebuild(self, org_id: int | str, ids: np.ndarray, vectors: np.ndarray) -> int:
        """Replace the org's whole index (after re-embedding or a model change)."""
        new_ids, new_vecs = self._validate(ids, vectors)
        if len(np.unique(new_ids)) != len(new_ids):
            raise ValueError("rebuild() ids must be unique")
        return self._write(org_id, lambda _ids, _vecs: (new_ids, new_vecs))

    def drop(self, org_id: int | str) -> None:
        """Delete every file of the org (organization deletion)."""
        directory = self._org_dir(org_id)
        with self._cache_lock:
            self._cache.pop(directory.name, None)
        if directory.exists():
            with self._locked(directory):
                for path in directory.iterdir():
                    if path.name != ".lock":
                        path.unlink(missing_ok=True)
            shutil.rmtree(directory, ignore_errors=True)

    # ------------------------------------------------------------------ reads
    def search(
        self,
        org_id: int | str,
        query_vec: np.ndarray,
        k: int,
        allowed_ids: set[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (id, cosine score), best first; only ids in `allowed_ids` when given."""
        snapshot = self._snapshot(org_id)
        if snapshot is None or snapshot.index.ntotal == 0 or k <= 0:
            return []
        query = _normalize(np.asarray(query_vec, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dim:
            raise ValueError(f"query has {query.shape[1]} dims, index has {self.dim}")
        if allowed_ids is None:
            scores, labels = snapshot.index.search(query, min(k, snapshot.index.ntotal))
            return _pairs(scores[0], labels[0])
        if not allowed_ids:
            return []
        allowed = np.fromiter((int(i) for i in allowed_ids), dtype=np.int64)
        k = min(k, len(allowed), snapshot.index.ntotal)
        if _is_hnsw(snapshot.index) and len(allowed) <= EXACT_FILTER_LIMIT:
            return self._exact_filtered(org_id, snapshot, query[0], allowed, k)
        # Flat indexes: the selector makes FAISS skip every id outside the set (exact).
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        scores, labels = snapshot.index.search(query, k, params=params)
        allowed_set = set(allowed.tolist())
        return [(i, s) for i, s in _pairs(scores[0], labels[0]) if i in allowed_set]

    def vectors(self, org_id: int | str, ids: list[int]) -> dict[int, np.ndarray]:
        """The stored (normalized) vectors of `ids` that exist: scoring a lexical-only
        candidate must not re-embed its text."""
        snapshot = self._snapshot(org_id)
        if snapshot is None or not ids:
            return {}
        self._ensure_lookup(org_id, snapshot)
        if len(snapshot.sorted_ids) == 0:
            return {}
        wanted = np.asarray(ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(snapshot.sorted_ids, wanted), 0,
                      len(snapshot.sorted_ids) - 1)
        found = snapshot.sorted_ids[pos] == wanted
        return {int(wanted[i]): np.asarray(snapshot.vectors[snapshot.order[pos[i]]],
                                           dtype=np.float32)
                for i in np.flatnonzero(found)}

    def count(self, org_id: int | str) -> int:
        snapshot = self._snapshot(org_id)
        return 0 if snapshot is None else int(snapshot.index.ntotal)

    def version(self, org_id: int | str) -> int:
        """The committed version number (0 = no index yet)."""
        return _read_current(self._org_dir(org_id))

    # -------------------------------------------------------------- internals
    def _org_dir(self, org_id: int | str) -> Path:
        key = str(org_id)
        if not _ORG_ID.match(key):
            raise ValueError(f"invalid org id for an index directory: {key!r}")
        return self.index_dir / f"org_{key}"

    def _validate(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.int64).ravel()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors must have shape (n, {self.dim}), got {vectors.shape}")
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors must have the same length")
        return ids, _normalize(vectors)

    @contextlib.contextmanager
    def _locked(self, directory: Path) -> Iterator[None]:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _write(
        self,
        org_id: int | str,
        change: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    ) -> int:
        directory = self._org_dir(org_id)
        with self._locked(directory):
            self._check_model(directory)
            current = _read_current(directory)
            ids, vectors = self._load_arrays(directory, current)
            ids, vectors = change(ids, vectors)
            ids = np.ascontiguousarray(ids, dtype=np.int64)
            vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
            index = self._build(ids, vectors)
            new = current + 1
            _atomic_write(directory / f"ids.v{new}.npy", _npy_bytes(ids))
            _atomic_write(directory / f"vectors.v{new}.npy", _npy_bytes(vectors))
            _atomic_write(
                directory / f"index.v{new}.faiss", faiss.serialize_index(index).tobytes()
            )
            _atomic_write(directory / "CURRENT", f"{new}\n".encode())
            self._collect_garbage(directory, new)
        with self._cache_lock:
            self._cache[directory.name] = _Snapshot(new, index, ids, vectors)
        return new

    def _check_model(self, directory: Path) -> None:
        if self.model is None:
            return
        marker = directory / "MODEL"
        recorded = marker.read_text().strip() if marker.exists() else None
        if recorded is None:
            _atomic_write(marker, f"{self.model}\n".encode())
        elif recorded != self.model:
            raise ValueError(f"index {directory} holds {recorded} vectors, not {self.model}")

    def model_of(self, org_id: int | str) -> str | None:
        """The model recorded in the org's index (None for an index written before it
        was recorded)."""
        marker = self._org_dir(org_id) / "MODEL"
        return marker.read_text().strip() if marker.exists() else None

    def _build(self, ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
        if len(ids) > self.hnsw_threshold:
            base = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            base.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            base = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIDMap2(base)
        if len(ids):
            index.add_with_ids(vectors, ids)
        return index

    def _load_arrays(self, directory: Path, version: int) -> tuple[np.ndarray, np.ndarray]:
        if version == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        ids = np.load(directory / f"ids.v{version}.npy")
        vectors = np.load(directory / f"vectors.v{version}.npy")
        return ids, vectors

    def _snapshot(self, org_id: int | str) -> _Snapshot | None:
        directory = self._org_dir(org_id)
        for _attempt in range(5):
            version = _read_current(directory)
            if version == 0:
                return None
            with self._cache_lock:
                cached = self._cache.get(directory.name)
            if cached is not None and cached.version == version:
                return cached
            try:
                index = faiss.read_index(str(directory / f"index.v{version}.faiss"))
            except RuntimeError:
                if (directory / f"index.v{version}.faiss").exists():
                    raise
                continue  # collected between reading CURRENT and opening: read CURRENT again
            _tune(index)
            snapshot = _Snapshot(version, index)
            with self._cache_lock:
                self._cache[directory.name] = snapshot
            return snapshot
        raise RuntimeError(f"index for org {org_id} kept changing while being read")

    def _exact_filtered(
        self, org_id: int | str, snapshot: _Snapshot, query: np.ndarray, allowed: np.ndarray, k: int
    ) -> list[tuple[int, float]]:
        self._ensure_lookup(org_id, snapshot)
        pos = np.clip(np.searchsorted(snapshot.sorted_ids, allowed), 0,
                      len(snapshot.sorted_ids) - 1)
        found = snapshot.sorted_ids[pos] == allowed
        rows = np.sort(snapshot.order[pos[found]])
        if rows.size == 0:
            return []
        scores = np.asarray(snapshot.vectors[rows] @ query, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(snapshot.ids[rows[i]]), float(scores[i])) for i in order]

    def _ensure_lookup(self, org_id: int | str, snapshot: _Snapshot) -> None:
        if snapshot.ids is None or snapshot.vectors is None:
            directory = self._org_dir(org_id)
            snapshot.ids = np.load(directory / f"ids.v{snapshot.version}.npy")
            snapshot.vectors = np.load(
                directory / f"vectors.v{snapshot.version}.npy", mmap_mode="r"
            )
        if snapshot.order is None:  # sorted view, built once per version: O(m log n) lookups
            snapshot.order = np.argsort(snapshot.ids, kind="stable")
            snapshot.sorted_ids = snapshot.ids[snapshot.order]

    def _collect_garbage(self, directory: Path, newest: int) -> None:
        oldest_kept = newest - self.keep_versions + 1
        for path in directory.iterdir():
            match = _VERSIONED.match(path.name)
            if match and int(match.group(1)) < oldest_kept:
                path.unlink(missing_ok=True)
            elif path.name.startswith(".tmp-"):
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < os.path.getmtime(directory / "CURRENT") - 3600:
                        path.unlink()


def _read_current(directory: Path) -> int:
    try:
        raw = (directory / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return 0
    return int(raw) if raw.isdigit() else 0


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def _is_hnsw(index: faiss.Index) -> bool:
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    return isinstance(inner, faiss.IndexHNSW)


def _tune(index: faiss.Index) -> None:
    """efSearch is not serialized; restore it after loading."""
    if hasattr(index, "index"):
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = HNSW_EF_SEARCH


def _pairs(scores: np.ndarray, labels: np.ndarray) -> list[tuple[int, float]]:
    return [(int(i), float(s)) for s, i in zip(scores, labels, strict=True) if i != -1]
