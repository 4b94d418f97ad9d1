"""Per-org FAISS indexes: correctness, exact scoping, versions and cross-process reloads."""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from services.knowledge.vector_index import VectorIndexStore

DIM = 16


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path) -> VectorIndexStore:
    return VectorIndexStore(tmp_path / "indexes", dim=DIM)


def test_add_then_search_finds_the_nearest(store):
    vectors = _vectors(50)
    ids = np.arange(100, 150, dtype=np.int64)
    store.add(1, ids, vectors)
    hits = store.search(1, vectors[7], k=3)
    assert hits[0][0] == 107
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(hits) == 3
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert store.count(1) == 50


def test_orgs_are_isolated(store):
    store.add(1, np.array([1]), _vectors(1, seed=1))
    store.add(2, np.array([2]), _vectors(1, seed=2))
    assert [i for i, _ in store.search(1, _vectors(1, seed=2)[0], k=10)] == [1]
    assert store.search(3, _vectors(1)[0], k=5) == []
    assert store.count(3) == 0


def test_adding_an_existing_id_replaces_it(store):
    first, second = _vectors(2, seed=3)
    store.add(1, np.array([10, 11]), np.stack([first, second]))
    store.add(1, np.array([10]), second[None, :])
    assert store.count(1) == 2
    hits = dict(store.search(1, second, k=5))
    assert hits[10] == pytest.approx(1.0, abs=1e-5)
    store.add(1, np.array([12, 12]), np.stack([first, second]))  # last one wins
    assert store.count(1) == 3
    assert dict(store.search(1, second, k=5))[12] == pytest.approx(1.0, abs=1e-5)


def test_remove(store):
    vectors = _vectors(10)
    store.add(1, np.arange(10), vectors)
    store.remove(1, [3, 4, 99])
    assert store.count(1) == 8
    assert all(i not in (3, 4) for i, _ in store.search(1, vectors[3], k=10))


def test_allowed_ids_are_exact_even_when_the_best_match_is_outside(store):
    vectors = _vectors(200)
    store.add(1, np.arange(200), vectors)
    allowed = {5, 17, 123}
    hits = store.search(1, vectors[0], k=10, allowed_ids=allowed)
    assert {i for i, _ in hits} == allowed
    assert 0 not in {i for i, _ in hits}
    assert store.search(1, vectors[0], k=10, allowed_ids=set()) == []
    assert store.search(1, vectors[0], k=10, allowed_ids={9999}) == []


def test_every_write_is_one_small_segment_and_compaction_folds_them(store, tmp_path):
    assert store.version(1) == 0
    for n in range(4):
        assert store.add(1, np.array([n]), _vectors(1, seed=n)) == n + 1
    org_dir = tmp_path / "indexes" / "org_1"
    assert sorted(p.name for p in org_dir.glob("seg.*.npz")) == [
        "seg.1.npz", "seg.2.npz", "seg.3.npz", "seg.4.npz"]
    store.remove(1, [2])
    assert store.stats(1)["tombstones"] == 1
    assert store.compact(1) is True
    stats = store.stats(1)
    assert (stats["base_vectors"], stats["segments"], stats["tombstones"]) == (3, 0, 0)
    assert store.count(1) == 3
    store.add(1, np.array([9]), _vectors(1, seed=9))  # the previous manifest's files stay
    assert not list(org_dir.glob("seg.[1-4].npz"))  # two manifests later they are gone
    assert not list(org_dir.glob(".tmp-*"))
    assert store.compact(1) is True
    assert store.compact(1) is False  # nothing left to fold


def test_a_second_store_sees_writes_made_by_another(tmp_path):
    writer = VectorIndexStore(tmp_path, dim=DIM)
    reader = VectorIndexStore(tmp_path, dim=DIM)
    vectors = _vectors(3)
    writer.add("acme", np.array([1, 2]), vectors[:2])
    assert reader.count("acme") == 2
    writer.add("acme", np.array([3]), vectors[2:])
    assert reader.search("acme", vectors[2], k=1)[0][0] == 3
    writer.remove("acme", [1, 2, 3])
    assert reader.count("acme") == 0


def _add_in_child(index_dir: str, start: int) -> None:
    store = VectorIndexStore(index_dir, dim=DIM)
    for n in range(start, start + 10):
        store.add(7, np.array([n]), _vectors(1, seed=n))


def test_concurrent_writers_in_separate_processes_lose_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_in_child, args=(str(tmp_path), s)) for s in (0, 100)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    store = VectorIndexStore(tmp_path, dim=DIM)
    assert store.count(7) == 20
    assert store.version(7) == 20


def test_switches_to_ivf_above_threshold_and_filters_stay_exact(tmp_path):
    import faiss

    store = VectorIndexStore(tmp_path, dim=DIM, ann_threshold=50)
    vectors = _vectors(120, seed=9)
    store.rebuild(1, np.arange(120), vectors)
    reader = VectorIndexStore(tmp_path, dim=DIM, ann_threshold=50)
    base = reader._snapshot(1).base
    assert isinstance(base.ann, faiss.IndexIVFFlat)
    assert reader.search(1, vectors[42], k=1)[0][0] == 42
    hits = reader.search(1, vectors[42], k=5, allowed_ids={1, 2, 3})
    assert {i for i, _ in hits} == {1, 2, 3}
    reader.remove(1, [42])
    assert reader.count(1) == 119
    assert 42 not in {i for i, _ in store.search(1, vectors[42], k=20)}


def test_rebuild_replaces_everything(store):
    store.add(1, np.arange(5), _vectors(5))
    store.rebuild(1, np.array([100, 101]), _vectors(2, seed=4))
    assert store.count(1) == 2
    with pytest.raises(ValueError):
        store.rebuild(1, np.array([1, 1]), _vectors(2))


def test_bad_input_is_rejected(store):
    with pytest.raises(ValueError):
        store.add(1, np.array([1]), np.zeros((1, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError):
        store.add(1, np.array([1, 2]), _vectors(1))
    with pytest.raises(ValueError):
        store.add("../etc", np.array([1]), _vectors(1))


def test_drop_deletes_the_org(store, tmp_path):
    store.add(1, np.array([1]), _vectors(1))
    store.drop(1)
    assert store.count(1) == 0
    assert not (tmp_path / "indexes" / "org_1").exists()


def test_approximate_base_filtered_search_matches_brute_force_with_unsorted_ids(tmp_path):
    """Random 62-bit ids in random order, an allow-list with ids that do not exist."""
    rng = np.random.default_rng(3)
    store = VectorIndexStore(tmp_path, dim=DIM, ann_threshold=50)
    ids = rng.integers(1, 2**62, size=300, dtype=np.int64)
    vectors = _vectors(300, seed=11)
    store.add(7, ids[:200], vectors[:200])
    store.compact(7)  # an approximate base plus a segment
    store.add(7, ids[200:], vectors[200:])
    allowed = set(rng.choice(ids, size=40, replace=False).tolist()) | {5, 2**61 + 1}
    query = vectors[0]
    hits = store.search(7, query, k=10, allowed_ids=allowed)
    mask = np.isin(ids, list(allowed))
    scores = vectors[mask] @ (query / np.linalg.norm(query))
    expected = [int(i) for i in ids[mask][np.argsort(-scores, kind="stable")][:10]]
    assert [i for i, _ in hits] == expected


# --------------------------------------------------------------------- segments
def _brute(live: dict[int, np.ndarray], query: np.ndarray, k: int,
           allowed: set[int] | None = None) -> list[int]:
    items = [(i, v) for i, v in live.items() if allowed is None or i in allowed]
    if not items:
        return []
    ids = np.array([i for i, _ in items])
    scores = np.stack([v for _, v in items]) @ query
    order = sorted(range(len(ids)), key=lambda j: (-scores[j], ids[j]))
    return [int(ids[j]) for j in order[:k]]


@pytest.mark.parametrize("threshold", [10_000, 40])
def test_random_writes_deletes_and_compactions_match_brute_force(tmp_path, threshold):
    """Upserts, deletes, re-adds of deleted ids and compactions in random order: search
    (with and without a scope) always equals brute force over the live set, and a
    tombstoned vector is never returned."""
    rng = np.random.default_rng(5)
    store = VectorIndexStore(tmp_path, dim=DIM, ann_threshold=threshold)
    live: dict[int, np.ndarray] = {}
    deleted: set[int] = set()
    for step in range(60):
        action = rng.choice(["add", "add", "remove", "compact"])
        if action == "add":
            ids = rng.integers(0, 150, size=int(rng.integers(1, 12)))
            vecs = _vectors(len(ids), seed=1000 + step)
            store.add(3, ids, vecs)
            for i, v in zip(ids.tolist(), vecs, strict=True):
                live[i] = v
                deleted.discard(i)
        elif action == "remove" and live:
            gone = rng.choice(list(live), size=min(len(live), 5), replace=False).tolist()
            store.remove(3, gone)
            for i in gone:
                live.pop(i)
                deleted.add(i)
        else:
            store.compact(3)
        query = _vectors(1, seed=step)[0]
        assert store.count(3) == len(live)
        hits = [i for i, _ in store.search(3, query, k=8)]
        assert not set(hits) & deleted
        if threshold > 1000:  # exact base: identical ranking
            assert hits == _brute(live, query, 8)
        scope = set(rng.choice(200, size=30, replace=False).tolist())
        scoped = [i for i, _ in store.search(3, query, k=8, allowed_ids=scope)]
        assert scoped == _brute(live, query, 8, scope)  # scopes are exact on every base
        assert set(store.vectors(3, list(deleted)[:10])) == set()


def test_the_cache_is_bounded_by_bytes_and_evicts_least_recently_used(tmp_path):
    one_org = 100 * DIM * 4 + 100 * 8
    store = VectorIndexStore(tmp_path, dim=DIM, cache_bytes=int(one_org * 2.5))
    for org in (1, 2, 3):
        store.rebuild(org, np.arange(100), _vectors(100, seed=org))
    for org in (1, 2, 3):
        store.search(org, _vectors(1)[0], k=1)
    assert list(store._cache) == ["org_2", "org_3"]  # org 1 was least recently used
    assert store.cached_bytes() <= store.cache_bytes
    store.search(1, _vectors(1)[0], k=1)  # served again, from disk
    assert list(store._cache) == ["org_3", "org_1"]


def test_an_index_in_the_old_single_file_layout_is_converted_on_first_use(tmp_path):
    import faiss

    org_dir = tmp_path / "org_4"
    org_dir.mkdir()
    ids, vectors = np.array([5, 3, 9]), _vectors(3, seed=4)
    np.save(org_dir / "ids.v7.npy", ids)
    np.save(org_dir / "vectors.v7.npy", vectors)
    faiss.write_index(faiss.IndexFlatIP(DIM), str(org_dir / "index.v7.faiss"))
    (org_dir / "CURRENT").write_text("7\n")
    store = VectorIndexStore(tmp_path, dim=DIM)
    assert store.count(4) == 3
    assert store.search(4, vectors[2], k=1)[0][0] == 9
    assert store.version(4) == 7
    assert not (org_dir / "CURRENT").exists() and not list(org_dir.glob("*.v7.*"))
    assert store.add(4, np.array([1]), _vectors(1)) == 8


def _write_and_delete_in_child(index_dir: str, start: int) -> None:
    store = VectorIndexStore(index_dir, dim=DIM, ann_threshold=60)
    for n in range(start, start + 40):
        store.add(8, np.array([n]), _vectors(1, seed=n))
        if n % 4 == 0:
            store.remove(8, [n - 1])


def _compact_in_child(index_dir: str) -> None:
    store = VectorIndexStore(index_dir, dim=DIM, ann_threshold=60)
    for _ in range(30):
        store.compact(8)


def test_concurrent_writers_with_a_compaction_lose_and_duplicate_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_and_delete_in_child, args=(str(tmp_path), s))
               for s in (1000, 2000)]
    workers.append(context.Process(target=_compact_in_child, args=(str(tmp_path),)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(180)
        assert worker.exitcode == 0
    expected = {n: _vectors(1, seed=n)[0] for s in (1000, 2000) for n in range(s, s + 40)
                if (n + 1) % 4 != 0 or n + 1 >= s + 40}
    store = VectorIndexStore(tmp_path, dim=DIM, ann_threshold=60)
    assert store.count(8) == len(expected)
    store.compact(8)
    assert store.count(8) == len(expected)
    scope = set(expected)
    for seed in range(5):
        query = _vectors(1, seed=seed)[0]
        hits = store.search(8, query, k=len(expected), allowed_ids=scope)
        assert [i for i, _ in hits] == _brute(expected, query, len(expected))


def _write_forever(index_dir: str, confirmed: str) -> None:
    store = VectorIndexStore(index_dir, dim=DIM)
    n = 0
    with open(confirmed, "a") as log:
        while True:
            store.add(9, np.arange(n, n + 50), _vectors(50, seed=n))
            log.write(f"{n + 49}\n")
            log.flush()
            n += 50


def _compact_forever(index_dir: str) -> None:
    store = VectorIndexStore(index_dir, dim=DIM, ann_threshold=500)
    while True:
        store.add(9, np.arange(10**6, 10**6 + 3), _vectors(3, seed=77))
        store.compact(9)


@pytest.mark.parametrize("target", ["write", "compact"])
def test_kill_9_during_a_write_or_a_compaction_leaves_a_consistent_index(tmp_path, target):
    import os
    import signal
    import time

    store = VectorIndexStore(tmp_path, dim=DIM, ann_threshold=500)
    store.rebuild(9, np.arange(-2000, 0), _vectors(2000, seed=3))
    confirmed = tmp_path / "confirmed.txt"
    context = multiprocessing.get_context("spawn")
    if target == "write":
        child = context.Process(target=_write_forever, args=(str(tmp_path), str(confirmed)))
    else:
        child = context.Process(target=_compact_forever, args=(str(tmp_path),))
    child.start()
    deadline = time.monotonic() + 60
    while store.version(9) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.137)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    reader = VectorIndexStore(tmp_path, dim=DIM, ann_threshold=500)
    count = reader.count(9)
    assert count >= 2000
    if target == "write":
        last = int(confirmed.read_text().split()[-1]) if confirmed.read_text() else -1
        assert count - 2000 >= last + 1  # every confirmed write survived
        assert (count - 2000) % 50 == 0  # and no batch is half-visible
    query = _vectors(1, seed=3)[0]  # == the first rebuilt vector
    assert reader.search(9, query, k=1)[0][0] == -2000
    assert reader.compact(9) in (True, False)  # a crashed compaction does not wedge the next
    assert reader.count(9) == count
    assert not (tmp_path / "org_9" / "compacting").exists()
