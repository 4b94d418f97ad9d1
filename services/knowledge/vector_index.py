"""Per-organization vector indexes on disk: a base plus small segments, safe across processes.

Layout, per org directory `org_<id>/`:
- `MANIFEST` (JSON, atomically replaced): the version, the base and an ordered log of
  operations since the base — `seg` (an upsert batch: ids + vectors) and `tomb` (deleted
  ids). Nothing is servable until the manifest names it.
- `base.<tag>.ids.npy` (sorted ids), `base.<tag>.vectors.npy` and, above `ann_threshold`,
  `base.<tag>.faiss` (an IVF index whose labels are row positions).
- `seg.<version>.npz`, `tomb.<version>.npy`: one small file per write.

Why: a write costs one small file and a manifest swap, whatever the size of the base; the
old design rewrote everything on each write. An entry is live unless a later operation
(segment or tombstone) names its id, so upserts, deletes and re-adds stay exact. Search
covers the base (dead rows excluded by selector or mask) and every segment (brute force),
then merges. Compaction (`compact`) folds the log into a new base without blocking
readers or writers: it snapshots the log under the write lock, builds the base outside it
in `compacting/`, and installs it under the lock, keeping operations that arrived meanwhile.

Writers take an exclusive `flock`; files are written to a temp name, fsynced and renamed,
and the manifest is replaced last, so a crash at any point leaves the previous manifest
whole. Readers re-read the small manifest on every search, so every process sees a new
segment on its next search; loaded parts are cached per process, bounded by bytes (LRU).
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

_ORG_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LEGACY = re.compile(r"^(?:index|ids|vectors)\.v(\d+)\.(?:faiss|npy)$")
_OWNED = re.compile(r"^(?:base\.[A-Za-z0-9-]+\.(?:ids\.npy|vectors\.npy|faiss)"
                    r"|seg\.\d+\.npz|tomb\.\d+\.npy)$")
# With a filter on an approximate base, score up to this many allowed vectors exactly
# instead of trusting the probed lists, which can miss allowed items.
EXACT_FILTER_LIMIT = 50_000
DEFAULT_CACHE_BYTES = 1 << 30


@dataclass
class _Base:
    name: str
    ids: np.ndarray  # sorted
    vectors: np.ndarray  # memory-mapped, row i belongs to ids[i]
    ann: faiss.Index | None = None

    @property
    def nbytes(self) -> int:
        ann = self.ann.ntotal * self.vectors.shape[1] * 4 if self.ann is not None else 0
        return int(self.ids.nbytes + self.vectors.nbytes + ann)


class _Rows:
    """Every segment's rows, concatenated in log order in one append-only buffer: a new
    segment is appended in place (older snapshots only read their own prefix), so a write
    costs the reader one small file, and a search one matrix product over all segments."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.ids = np.empty(capacity, np.int64)
        self.vectors = np.empty((capacity, dim), np.float32)
        self.n = 0

    def append(self, ids: np.ndarray, vectors: np.ndarray) -> _Rows:
        """Self with the rows appended, or a bigger copy when full."""
        target = self
        if self.n + len(ids) > len(self.ids):
            target = _Rows(self.vectors.shape[1], max(2 * len(self.ids), self.n + len(ids)))
            target.ids[:self.n], target.vectors[:self.n] = self.ids[:self.n], \
                self.vectors[:self.n]
            target.n = self.n
        target.ids[target.n:target.n + len(ids)] = ids
        target.vectors[target.n:target.n + len(ids)] = vectors
        target.n += len(ids)
        return target


@dataclass
class _Snapshot:
    version: int
    base: _Base | None
    rows: _Rows | None = None
    n_rows: int = 0  # this snapshot's prefix of `rows`
    segments: list[tuple[str, int, int]] = field(default_factory=list)  # (name, start, stop)
    live: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per row
    tombs: dict[str, np.ndarray] = field(default_factory=dict)  # by file name
    dead_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # in base
    count: int = 0

    @property
    def seg_ids(self) -> np.ndarray:
        return self.rows.ids[:self.n_rows] if self.rows is not None else np.zeros(0, np.int64)

    @property
    def seg_vectors(self) -> np.ndarray:
        return (self.rows.vectors[:self.n_rows] if self.rows is not None
                else np.zeros((0, 1), np.float32))

    @property
    def nbytes(self) -> int:
        rows = self.n_rows * (8 + (self.rows.vectors.shape[1] * 4 if self.rows else 0))
        tombs = sum(t.nbytes for t in self.tombs.values())
        return int((self.base.nbytes if self.base else 0) + rows + self.live.nbytes + tombs)


class VectorIndexStore:
    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        dim: int = 384,
        ann_threshold: int = 200_000,
        model: str | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        max_ops: int = 16,
        max_segment_vectors: int = 20_000,
    ) -> None:
        self.index_dir = Path(index_dir)
        self.dim = dim
        # Recorded in each org index (`MODEL`) and checked on every write, so vectors of
        # two models can never be written into one index.
        self.model = model
        # Above this many vectors the base is an IVF index (approximate, fast to build).
        self.ann_threshold = ann_threshold
        self.cache_bytes = cache_bytes
        self.max_ops = max_ops
        self.max_segment_vectors = max_segment_vectors
        self._cache: OrderedDict[str, _Snapshot] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._load_lock = threading.Lock()  # snapshots append to shared buffers: one at a time

    # ----------------------------------------------------------------- writes
    def add(self, org_id: int | str, ids: np.ndarray, vectors: np.ndarray) -> int:
        """Insert or replace vectors by id (an existing id is overwritten, never duplicated)."""
        new_ids, new_vecs = self._validate(ids, vectors)
        # Within one call the last occurrence of an id wins.
        _, last = np.unique(new_ids[::-1], return_index=True)
        keep = np.sort(len(new_ids) - 1 - last)
        new_ids, new_vecs = new_ids[keep], new_vecs[keep]
        if not len(new_ids):
            return self.version(org_id)
        directory = self._org_dir(org_id)
        with self._locked(directory):
            self._check_model(directory)
            manifest = self._manifest_locked(directory)
            version = manifest["version"] + 1
            name = f"seg.{version}.npz"
            _atomic_write(directory / name, _npz_bytes(ids=new_ids, vectors=new_vecs))
            manifest["ops"].append(["seg", name, int(len(new_ids))])
            return self._commit(directory, manifest)

    def remove(self, org_id: int | str, ids: np.ndarray | list[int]) -> int:
        """Tombstone `ids`: cheap and immediate; compaction reclaims the space later."""
        drop = np.unique(np.asarray(ids, dtype=np.int64).ravel())
        directory = self._org_dir(org_id)
        if not len(drop) or not (directory / "MANIFEST").exists() and _read_current(
                directory) == 0:
            return self.version(org_id)
        with self._locked(directory):
            manifest = self._manifest_locked(directory)
            version = manifest["version"] + 1
            name = f"tomb.{version}.npy"
            _atomic_write(directory / name, _npy_bytes(drop))
            manifest["ops"].append(["tomb", name, int(len(drop))])
            return self._commit(directory, manifest)

    def rebuild(self, org_id: int | str, ids: np.ndarray, vectors: np.ndarray) -> int:
        """Replace the org's whole index (after re-embedding or a model change)."""
        new_ids, new_vecs = self._validate(ids, vectors)
        if len(np.unique(new_ids)) != len(new_ids):
            raise ValueError("rebuild() ids must be unique")
        directory = self._org_dir(org_id)
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".rebuild-", dir=directory))
        try:
            tag = self._write_base(staging, new_ids, new_vecs)
            with self._locked(directory):
                self._check_model(directory)
                manifest = self._manifest_locked(directory)
                _install(staging, directory)
                manifest["base"] = {"tag": tag, "count": int(len(new_ids))}
                manifest["ops"] = []
                return self._commit(directory, manifest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def drop(self, org_id: int | str) -> None:
        """Delete every file of the org (organization deletion)."""
        directory = self._org_dir(org_id)
        with self._cache_lock:
            self._cache.pop(directory.name, None)
        if directory.exists():
            with self._locked(directory):
                for path in directory.iterdir():
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    elif path.name != ".lock":
                        path.unlink(missing_ok=True)
            shutil.rmtree(directory, ignore_errors=True)

    # ------------------------------------------------------------- compaction
    def needs_compaction(self, org_id: int | str) -> bool:
        """True when the log is long or heavy enough that searches pay for it."""
        totals = _totals(_read_manifest(self._org_dir(org_id)))
        return bool(totals["ops"]) and (
            totals["ops"] >= self.max_ops
            or totals["segment_vectors"] >= self.max_segment_vectors
            or totals["tombstones"] >= max(1_000, totals["base_vectors"] // 10))

    def compact(self, org_id: int | str) -> bool:
        """Fold the operation log into a new base. Reads and writes go on meanwhile;
        returns False when there was nothing to do or another compaction holds the org."""
        directory = self._org_dir(org_id)
        if not directory.exists():
            return False
        with self._compaction_lock(directory) as mine:
            if not mine:
                return False
            work = directory / "compacting"
            shutil.rmtree(work, ignore_errors=True)  # a crashed compaction's leftovers
            try:
                return self._compact_into(directory, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def _compact_into(self, directory: Path, work: Path) -> bool:
        with self._locked(directory):
            manifest = self._manifest_locked(directory)
        if not manifest["ops"]:
            return False
        work.mkdir()
        ids, vectors = _live_arrays(self._load(directory, manifest, with_ann=False))
        tag = self._write_base(work, ids, vectors)
        with self._locked(directory):
            current = self._manifest_locked(directory)
            prefix = manifest["ops"]
            if current["base"] != manifest["base"] or current["ops"][:len(prefix)] != prefix:
                return False  # rebuilt meanwhile: ours is stale
            _install(work, directory)
            current["base"] = {"tag": tag, "count": int(len(ids))}
            current["ops"] = current["ops"][len(prefix):]
            self._commit(directory, current)
        return True

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
        if snapshot is None or snapshot.count == 0 or k <= 0:
            return []
        query = _normalize(np.asarray(query_vec, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dim:
            raise ValueError(f"query has {query.shape[1]} dims, index has {self.dim}")
        allowed = None
        if allowed_ids is not None:
            if not allowed_ids:
                return []
            allowed = np.unique(np.fromiter((int(i) for i in allowed_ids), dtype=np.int64))
        k = min(k, snapshot.count)
        hits: list[tuple[float, int]] = []
        if snapshot.base is not None:
            hits.extend(_search_base(snapshot, query[0], k, allowed))
        if snapshot.n_rows:
            hits.extend(_search_segments(snapshot, query[0], k, allowed))
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [(i, s) for s, i in hits[:k] if np.isfinite(s)]

    def vectors(self, org_id: int | str, ids: list[int]) -> dict[int, np.ndarray]:
        """The stored (normalized) vectors of `ids` that are live: scoring a lexical-only
        candidate must not re-embed its text."""
        snapshot = self._snapshot(org_id)
        if snapshot is None or not ids:
            return {}
        wanted = np.unique(np.asarray(ids, dtype=np.int64))
        found: dict[int, np.ndarray] = {}
        seg_ids = snapshot.seg_ids
        for row in np.flatnonzero(np.isin(seg_ids, wanted) & snapshot.live):
            found[int(seg_ids[row])] = np.array(snapshot.seg_vectors[row])
        base = snapshot.base
        if base is not None and len(base.ids):
            pos = np.clip(np.searchsorted(base.ids, wanted), 0, len(base.ids) - 1)
            rows = pos[base.ids[pos] == wanted]
            for row in rows[~np.isin(rows, snapshot.dead_rows)]:
                found.setdefault(int(base.ids[row]), np.asarray(base.vectors[row], np.float32))
        return found

    def count(self, org_id: int | str) -> int:
        snapshot = self._snapshot(org_id)
        return 0 if snapshot is None else snapshot.count

    def version(self, org_id: int | str) -> int:
        """The committed version number (0 = no index yet)."""
        directory = self._org_dir(org_id)
        manifest = _read_manifest(directory)
        return manifest["version"] if manifest else _read_current(directory)

    def stats(self, org_id: int | str) -> dict[str, Any]:
        """What the org's index is made of (for health pages and the benchmarks)."""
        totals = _totals(_read_manifest(self._org_dir(org_id)))
        del totals["ops"]
        return {**totals, "live": self.count(org_id)}

    def cached_bytes(self) -> int:
        with self._cache_lock:
            return sum(s.nbytes for s in self._cache.values())

    def model_of(self, org_id: int | str) -> str | None:
        """The model recorded in the org's index (None for an index written before it
        was recorded)."""
        marker = self._org_dir(org_id) / "MODEL"
        return marker.read_text().strip() if marker.exists() else None

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

    @contextlib.contextmanager
    def _compaction_lock(self, directory: Path) -> Iterator[bool]:
        with open(directory / ".compact.lock", "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _manifest_locked(self, directory: Path) -> dict[str, Any]:
        """The manifest, converting an index of the old layout on first sight (lock held)."""
        manifest = _read_manifest(directory)
        if manifest is not None:
            return manifest
        legacy = _read_current(directory)
        manifest = {"version": legacy, "base": None, "ops": []}
        if legacy:
            ids = np.load(directory / f"ids.v{legacy}.npy")
            vectors = np.load(directory / f"vectors.v{legacy}.npy")
            staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=directory))
            try:
                tag = self._write_base(staging, ids, vectors)
                _install(staging, directory)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            manifest["base"] = {"tag": tag, "count": int(len(ids))}
            self._commit(directory, manifest, bump=False)
            (directory / "CURRENT").unlink(missing_ok=True)
        return manifest

    def _commit(self, directory: Path, manifest: dict[str, Any], bump: bool = True) -> int:
        previous = _read_manifest(directory)
        if bump:
            manifest["version"] += 1
        _atomic_write(directory / "MANIFEST", json.dumps(manifest).encode())
        _collect_garbage(directory, manifest, previous)
        return int(manifest["version"])

    def _check_model(self, directory: Path) -> None:
        if self.model is None:
            return
        marker = directory / "MODEL"
        recorded = marker.read_text().strip() if marker.exists() else None
        if recorded is None:
            _atomic_write(marker, f"{self.model}\n".encode())
        elif recorded != self.model:
            raise ValueError(f"index {directory} holds {recorded} vectors, not {self.model}")

    def _write_base(self, directory: Path, ids: np.ndarray, vectors: np.ndarray) -> str:
        """Write a base (sorted by id) into `directory`; returns its tag."""
        order = np.argsort(ids, kind="stable")
        ids = np.ascontiguousarray(ids[order], dtype=np.int64)
        vectors = np.ascontiguousarray(vectors[order], dtype=np.float32).reshape(-1, self.dim)
        tag = secrets.token_hex(6)
        _atomic_write(directory / f"base.{tag}.ids.npy", _npy_bytes(ids))
        _atomic_write(directory / f"base.{tag}.vectors.npy", _npy_bytes(vectors))
        if len(ids) > self.ann_threshold:
            index = build_ivf(vectors)
            _atomic_write(directory / f"base.{tag}.faiss", faiss.serialize_index(index).tobytes())
        return tag

    def _snapshot(self, org_id: int | str) -> _Snapshot | None:
        directory = self._org_dir(org_id)
        for _attempt in range(5):
            manifest = _read_manifest(directory)
            if manifest is None:
                if _read_current(directory) == 0:
                    return None
                with self._locked(directory):
                    manifest = self._manifest_locked(directory)
            with self._cache_lock:
                cached = self._cache.get(directory.name)
                if cached is not None and cached.version == manifest["version"]:
                    self._cache.move_to_end(directory.name)
                    return cached
            try:
                with self._load_lock:
                    snapshot = self._load(directory, manifest, previous=cached)
            except FileNotFoundError:
                continue  # collected between reading the manifest and opening: read it again
            with self._cache_lock:
                self._cache[directory.name] = snapshot
                self._cache.move_to_end(directory.name)
                self._evict()
            return snapshot
        raise RuntimeError(f"index for org {org_id} kept changing while being read")

    def _evict(self) -> None:
        total = sum(s.nbytes for s in self._cache.values())
        while total > self.cache_bytes and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            total -= evicted.nbytes

    def _load(self, directory: Path, manifest: dict[str, Any], with_ann: bool = True,
              previous: _Snapshot | None = None) -> _Snapshot:
        """The snapshot of `manifest`, reusing what `previous` already loaded: a new
        version costs its new files only."""
        base = None
        if manifest["base"] is not None:
            tag = manifest["base"]["tag"]
            if previous is not None and previous.base is not None and previous.base.name == tag:
                base = previous.base
            else:
                base = _load_base(directory, tag, with_ann)
        seg_ops = [(pos, name) for pos, (kind, name, _n) in enumerate(manifest["ops"])
                   if kind == "seg"]
        names = [name for _pos, name in seg_ops]
        rows, n_rows, spans = None, 0, []
        if previous is not None and previous.rows is not None and \
                [name for name, _a, _b in previous.segments] == names[:len(previous.segments)]:
            rows, n_rows, spans = previous.rows, previous.n_rows, list(previous.segments)
        if rows is not None and rows.n != n_rows:  # someone appended past us: copy
            fresh = _Rows(self.dim, max(1024, n_rows))
            rows = fresh.append(rows.ids[:n_rows], rows.vectors[:n_rows])
        old = {name: (a, b) for name, a, b in (previous.segments if previous else [])}
        for name in names[len(spans):]:
            if previous is not None and previous.rows is not None and name in old:
                a, b = old[name]  # kept across a compaction that folded older segments
                seg_ids, seg_vecs = previous.rows.ids[a:b], previous.rows.vectors[a:b]
            else:
                with np.load(directory / name) as data:
                    seg_ids, seg_vecs = data["ids"], data["vectors"]
            rows = (rows or _Rows(self.dim, max(1024, 2 * len(seg_ids)))).append(
                seg_ids, seg_vecs)
            spans.append((name, n_rows, n_rows + len(seg_ids)))
            n_rows += len(seg_ids)
        # The latest operation naming an id decides: an entry is live when it is that op.
        op_of_row = np.zeros(n_rows, np.int64)
        for (pos, _name), (_n, a, b) in zip(seg_ops, spans, strict=True):
            op_of_row[a:b] = pos
        known_tombs = previous.tombs if previous is not None else {}
        tombs, tomb_ids, tomb_pos = {}, [], []
        for pos, (kind, name, _n) in enumerate(manifest["ops"]):
            if kind == "tomb":
                ids = tombs[name] = (known_tombs[name] if name in known_tombs
                                     else np.load(directory / name))
                tomb_ids.append(ids)
                tomb_pos.append(np.full(len(ids), pos, np.int64))
        seg_ids = rows.ids[:n_rows] if rows is not None else np.zeros(0, np.int64)
        all_ids = np.concatenate([seg_ids, *tomb_ids])
        all_pos = np.concatenate([op_of_row, *tomb_pos])
        order = np.lexsort((all_pos, all_ids))
        sorted_ids = all_ids[order]
        last = np.ones(len(order), bool)
        last[:-1] = sorted_ids[1:] != sorted_ids[:-1]
        latest = order[last]
        live = np.zeros(n_rows, bool)
        live[latest[latest < n_rows]] = True
        shadow = sorted_ids[last]  # every id an operation named: its base entry is dead
        count = int(live.sum())
        dead_rows = np.zeros(0, np.int64)
        if base is not None and len(base.ids):
            pos = np.clip(np.searchsorted(base.ids, shadow), 0, len(base.ids) - 1)
            dead_rows = pos[base.ids[pos] == shadow].astype(np.int64)
            count += len(base.ids) - len(dead_rows)
        return _Snapshot(manifest["version"], base, rows, n_rows, spans, live, tombs,
                         dead_rows, count)


# --------------------------------------------------------------------------- helpers
def build_ivf(vectors: np.ndarray) -> faiss.Index:
    """An IVF-flat index over row positions: trains in seconds and adds ~1M vectors in
    well under a minute here, where HNSW took a quarter of an hour."""
    n, dim = vectors.shape
    nlist = max(1, min(4096, int(2 * np.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = vectors[np.sort(rng.choice(n, size=min(n, nlist * 64), replace=False))]
    index.cp.niter = 12
    index.train(np.ascontiguousarray(sample))
    for start in range(0, n, 100_000):
        index.add(np.ascontiguousarray(vectors[start:start + 100_000]))
    _tune(index)
    return index


def _tune(index: faiss.Index) -> None:
    """nprobe is not serialized. Measured on clustered vectors at 1M (2,000 lists, one
    thread): 32 probes 1.2 ms / recall@10 0.982, 64 probes 2.4 ms / 0.995 (RESULTS.md)."""
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = min(ivf.nlist, max(32, ivf.nlist // 48))


def _load_base(directory: Path, tag: str, with_ann: bool) -> _Base:
    ids = np.load(directory / f"base.{tag}.ids.npy")
    vectors = np.load(directory / f"base.{tag}.vectors.npy", mmap_mode="r")
    ann = None
    path = directory / f"base.{tag}.faiss"
    if with_ann and path.exists():
        ann = faiss.read_index(str(path))
        _tune(ann)
    return _Base(tag, ids, vectors, ann)


def _search_base(snapshot: _Snapshot, query: np.ndarray, k: int,
                 allowed: np.ndarray | None) -> list[tuple[float, int]]:
    base = snapshot.base
    assert base is not None
    n = len(base.ids)
    if n == 0:
        return []
    if allowed is not None:
        pos = np.clip(np.searchsorted(base.ids, allowed), 0, n - 1)
        rows = pos[base.ids[pos] == allowed]
        if len(snapshot.dead_rows):
            rows = rows[~np.isin(rows, snapshot.dead_rows)]
        if base.ann is None or len(rows) <= EXACT_FILTER_LIMIT:
            return _top(base.vectors, base.ids, np.sort(rows), query, k)
        selector = faiss.IDSelectorBatch(rows)
    elif base.ann is None:
        scores = np.asarray(base.vectors @ query, dtype=np.float32)
        if len(snapshot.dead_rows):
            scores[snapshot.dead_rows] = -np.inf
        return _best(scores, base.ids, k)
    else:
        selector = (faiss.IDSelectorNot(faiss.IDSelectorBatch(snapshot.dead_rows))
                    if len(snapshot.dead_rows) else None)
    params = faiss.SearchParametersIVF(sel=selector, nprobe=faiss.extract_index_ivf(
        base.ann).nprobe) if selector is not None else None
    scores, labels = base.ann.search(query[None, :], k, params=params)
    return [(float(s), int(base.ids[label])) for s, label in zip(scores[0], labels[0],
                                                                  strict=True) if label >= 0]


def _search_segments(snapshot: _Snapshot, query: np.ndarray, k: int,
                     allowed: np.ndarray | None) -> list[tuple[float, int]]:
    ids = snapshot.seg_ids
    mask = snapshot.live if allowed is None else snapshot.live & np.isin(ids, allowed)
    if not mask.any():
        return []
    scores = np.asarray(snapshot.seg_vectors @ query, dtype=np.float32)
    scores[~mask] = -np.inf
    return _best(scores, ids, k)


def _top(vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray, query: np.ndarray,
         k: int) -> list[tuple[float, int]]:
    if rows.size == 0:
        return []
    scores = np.asarray(vectors[rows] @ query, dtype=np.float32)
    return _best(scores, ids[rows], k)


def _best(scores: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[float, int]]:
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    return [(float(scores[i]), int(ids[i])) for i in top if np.isfinite(scores[i])]


def _totals(manifest: dict[str, Any] | None) -> dict[str, int]:
    """What a manifest's base and log hold, by kind."""
    manifest = manifest or {"version": 0, "base": None, "ops": []}
    ops = manifest["ops"]
    return {"version": manifest["version"], "ops": len(ops),
            "base_vectors": (manifest["base"] or {}).get("count", 0),
            "segments": sum(1 for kind, _, _n in ops if kind == "seg"),
            "segment_vectors": sum(n for kind, _, n in ops if kind == "seg"),
            "tombstones": sum(n for kind, _, n in ops if kind == "tomb")}


def _live_arrays(snapshot: _Snapshot) -> tuple[np.ndarray, np.ndarray]:
    parts_ids, parts_vecs = [], []
    base = snapshot.base
    if base is not None and len(base.ids):
        keep = np.ones(len(base.ids), dtype=bool)
        keep[snapshot.dead_rows] = False
        parts_ids.append(base.ids[keep])
        parts_vecs.append(np.asarray(base.vectors[keep], dtype=np.float32))
    if snapshot.n_rows:
        parts_ids.append(snapshot.seg_ids[snapshot.live])
        parts_vecs.append(snapshot.seg_vectors[snapshot.live])
    if not parts_ids:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(parts_ids), np.concatenate(parts_vecs)


def _install(staging: Path, directory: Path) -> None:
    for path in staging.iterdir():
        os.replace(path, directory / path.name)
    _fsync_dir(directory)


def _referenced(manifest: dict[str, Any] | None) -> set[str]:
    if manifest is None:
        return set()
    names = {name for _kind, name, _n in manifest["ops"]}
    if manifest["base"] is not None:
        tag = manifest["base"]["tag"]
        names |= {f"base.{tag}.ids.npy", f"base.{tag}.vectors.npy", f"base.{tag}.faiss"}
    return names


def _collect_garbage(directory: Path, manifest: dict[str, Any],
                     previous: dict[str, Any] | None) -> None:
    """Files of the current and previous manifests stay (a reader may be opening them)."""
    keep = _referenced(manifest) | _referenced(previous)
    for path in directory.iterdir():
        if (_OWNED.match(path.name) or _LEGACY.match(path.name)) and path.name not in keep:
            path.unlink(missing_ok=True)
        elif path.name.startswith(".tmp-") or path.name.startswith((".rebuild-", ".convert-")):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < os.path.getmtime(directory / "MANIFEST") - 3600:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "MANIFEST").read_bytes())
    except FileNotFoundError:
        return None


def _read_current(directory: Path) -> int:
    """The version of an index in the old single-file layout (0 when there is none)."""
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
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
