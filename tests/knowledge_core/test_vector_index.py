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


def test_every_write_bumps_the_version_and_old_versions_are_collected(store, tmp_path):
    assert store.version(1) == 0
    for n in range(4):
        assert store.add(1, np.array([n]), _vectors(1, seed=n)) == n + 1
    org_dir = tmp_path / "indexes" / "org_1"
    assert (org_dir / "CURRENT").read_text().strip() == "4"
    faiss_files = sorted(p.name for p in org_dir.glob("index.v*.faiss"))
    assert faiss_files == ["index.v3.faiss", "index.v4.faiss"]
    assert not list(org_dir.glob(".tmp-*"))


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


def test_switches_to_hnsw_above_threshold_and_stays_exact(tmp_path):
    import faiss

    store = VectorIndexStore(tmp_path, dim=DIM, hnsw_threshold=50)
    vectors = _vectors(120, seed=9)
    store.add(1, np.arange(120), vectors)
    reader = VectorIndexStore(tmp_path, dim=DIM, hnsw_threshold=50)
    index = reader._snapshot(1).index
    assert isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat)
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


def test_hnsw_filtered_search_matches_brute_force_with_unsorted_ids(tmp_path):
    """Random 62-bit ids in random order, an allow-list with ids that do not exist."""
    rng = np.random.default_rng(3)
    store = VectorIndexStore(tmp_path, dim=DIM, hnsw_threshold=50)
    ids = rng.integers(1, 2**62, size=300, dtype=np.int64)
    vectors = _vectors(300, seed=11)
    store.add(7, ids, vectors)
    allowed = set(rng.choice(ids, size=40, replace=False).tolist()) | {5, 2**61 + 1}
    query = vectors[0]
    hits = store.search(7, query, k=10, allowed_ids=allowed)
    mask = np.isin(ids, list(allowed))
    scores = vectors[mask] @ (query / np.linalg.norm(query))
    expected = [int(i) for i in ids[mask][np.argsort(-scores, kind="stable")][:10]]
    assert [i for i, _ in hits] == expected
