"""Synthetic embeddings with the neighbourhood structure of real sentence embeddings.

Uniform Gaussian vectors have no neighbourhoods (every point is about equally far from
every other), so approximate indexes look broken on them. Real MiniLM embeddings sit near
a low-dimensional, clustered manifold with a common offset (anisotropy). The generator
below reproduces that: a mixture of Gaussian clusters in a `latent`-dimensional space,
mapped into 384 dimensions by a fixed random linear map, plus a shared mean direction and
a little isotropic noise, then L2-normalised. `local_intrinsic_dim` measures the property
that decides ANN difficulty, so each run can compare it with real MiniLM embeddings.
"""
from __future__ import annotations

import numpy as np

DIM = 384


class ClusteredGenerator:
    # Defaults calibrated against MiniLM embeddings of bench/corpus.py sentences at 20k:
    # real LID 9.5, 1st/10th-NN cosine 0.88/0.75, mean pairwise cosine 0.22; these give
    # LID ~12, 0.90/0.84, ~0.25 (slightly harder for ANN than the real data: conservative).
    def __init__(self, *, seed: int = 0, dim: int = DIM, latent: int = 16,
                 clusters: int = 2000, spread: float = 0.55, noise: float = 0.01,
                 anisotropy: float = 0.5) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.latent, self.noise = dim, latent, noise
        self.centers = rng.standard_normal((clusters, latent)).astype(np.float32)
        # Clusters differ in size and tightness, as topics in a knowledge base do.
        self.scales = (spread * rng.uniform(0.5, 1.5, clusters)).astype(np.float32)
        weights = rng.pareto(1.2, clusters) + 1.0
        self.weights = weights / weights.sum()
        proj = rng.standard_normal((latent, dim)).astype(np.float32) / np.sqrt(latent)
        self.proj = proj
        mean = rng.standard_normal(dim).astype(np.float32)
        self.mean = anisotropy * mean / np.linalg.norm(mean)

    def sample(self, n: int, seed: int, block: int = 100_000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, block):
            m = min(block, n - start)
            k = rng.choice(len(self.centers), size=m, p=self.weights)
            h = self.centers[k] + self.scales[k, None] * rng.standard_normal(
                (m, self.latent), dtype=np.float32)
            x = h @ self.proj
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            x += self.mean
            x += self.noise * rng.standard_normal((m, self.dim), dtype=np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[start:start + m] = x
        return out


def local_intrinsic_dim(base: np.ndarray, probes: np.ndarray, k: int = 20) -> float:
    """Median MLE local intrinsic dimensionality (Levina–Bickel) of `probes` in `base`,
    from Euclidean k-NN distances of unit vectors; probes must not be members of base."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    sims, _ = index.search(np.ascontiguousarray(probes, dtype=np.float32), k)
    dist = np.sqrt(np.clip(2.0 - 2.0 * sims, 1e-12, None))
    ratios = np.log(dist[:, -1:] / dist[:, :-1])
    lid = (k - 1) / np.clip(ratios.sum(axis=1), 1e-9, None)
    return float(np.median(lid))


def neighbour_cosines(base: np.ndarray, probes: np.ndarray, k: int = 10) -> tuple[float, float]:
    """Mean cosine of the 1st and the k-th nearest neighbour (how tight neighbourhoods are)."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    sims, _ = index.search(np.ascontiguousarray(probes, dtype=np.float32), k)
    return float(sims[:, 0].mean()), float(sims[:, -1].mean())
