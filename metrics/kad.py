"""KAD: Kernel Audio Distance (Chung et al. 2025, arXiv 2502.15602; kadtk 1.1.0).

Unbiased MMD² with a Gaussian kernel ``k(a, b) = exp(-|a-b|² / (2σ² + 1e-8))``, times 100
(kadtk's SCALE_FACTOR since 2025-02-27):
``MMD² = mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)``,
x = reference, y = generated. Computed in row blocks (memory O(block² + N d)), kernel sums
accumulated in float64, so N = 50,000 runs in bounded memory.

Bandwidth σ: by default the median pairwise Euclidean distance of the REFERENCE set, so that
scores of different systems share one kernel (the kadtk README's description). ``bandwidth=eval``
reproduces kadtk 1.1.0's code, which takes the median over the evaluated set (kadtk#9). The
median is the lower median (as ``torch.median``), computed exactly with a blocked two-pass
histogram selection. The estimator is unbiased and can be negative.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from metrics.base import Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite
from metrics.frechet import rows_for_level

SCALE = 100.0
MAX_BOOTSTRAP_KERNEL = 40_000_000  # entries of the [ref; gen] kernel kept for the bootstrap
N_BINS = 1 << 16


def _sq_dists(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    d2 = a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0, out=d2)


def _blocks(n: int, block: int) -> list[slice]:
    return [slice(i, min(i + block, n)) for i in range(0, n, block)]


def _pair_blocks(x: np.ndarray, y: np.ndarray | None, block: int) -> Iterator[tuple]:
    """Yield (d² block, weight) over x×y, or over the upper triangle of x×x when y is None.

    In the symmetric case diagonal blocks have their diagonal set to -1 (marks i == j) and
    weight 1 for the strict upper triangle handled by the caller; off-diagonal blocks count twice.
    """
    x_sq = np.einsum("ij,ij->i", x, x)
    if y is None:
        bl = _blocks(len(x), block)
        for i, bi in enumerate(bl):
            for bj in bl[i:]:
                d2 = _sq_dists(x[bi], x[bj], x_sq[bi], x_sq[bj])
                yield d2, bi == bj
        return
    y_sq = np.einsum("ij,ij->i", y, y)
    for bi in _blocks(len(x), block):
        for bj in _blocks(len(y), block):
            yield _sq_dists(x[bi], y[bj], x_sq[bi], y_sq[bj]), False


def _kernel_sum(x, y, gamma: float, block: int) -> float:
    """Σ k over all (i, j) of x×y, or over i ≠ j of x×x when y is None; float64 accumulation."""
    total = 0.0
    for d2, diagonal in _pair_blocks(x, y, block):
        k = np.exp(-gamma * d2)
        if diagonal:
            total += 2.0 * float(np.triu(k, 1).sum(dtype=np.float64))
        else:
            total += (1.0 if y is not None else 2.0) * float(k.sum(dtype=np.float64))
    return total


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, sigma: float, block: int = 2048) -> float:
    """Unbiased Gaussian-kernel MMD² between rows of x [m, d] and y [n, d] (not scaled)."""
    x, y = as_float64_2d(x, "KAD reference"), as_float64_2d(y, "KAD generated")
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise MetricInputError(f"KAD needs at least 2 rows per set, got {m} reference, {n} generated")
    if sigma <= 0:
        raise MetricInputError(f"KAD bandwidth must be > 0, got {sigma} (all points identical?)")
    center = x.mean(axis=0)  # translation-invariant; centring limits GEMM cancellation
    x, y = x - center, y - center
    gamma = 1.0 / (2.0 * sigma**2 + 1e-8)
    k_xx = _kernel_sum(x, None, gamma, block) / (m * (m - 1))
    k_yy = _kernel_sum(y, None, gamma, block) / (n * (n - 1))
    k_xy = _kernel_sum(x, y, gamma, block) / (m * n)
    return k_xx + k_yy - 2.0 * k_xy


def median_pairwise_distance(x: np.ndarray, block: int = 2048) -> float:
    """Exact lower median of the n(n-1)/2 pairwise distances, in bounded memory.

    Pass 1 histograms d² into 65,536 bins over [0, (2 r_max)²]; pass 2 keeps only the d² in
    the bin that holds the median and selects it exactly.
    """
    x = as_float64_2d(x, "KAD bandwidth")
    x = x - x.mean(axis=0)
    n_pairs = len(x) * (len(x) - 1) // 2
    if n_pairs < 1:
        raise MetricInputError("KAD bandwidth needs at least 2 reference rows")
    k = (n_pairs - 1) // 2  # zero-based rank of the lower median
    hi = (2.0 * np.sqrt(np.einsum("ij,ij->i", x, x).max())) ** 2 * (1 + 1e-9) + 1e-300
    counts = np.zeros(N_BINS, np.int64)
    for d2 in _upper_values(x, block):
        counts += np.bincount(np.minimum((d2 / hi * N_BINS).astype(np.int64), N_BINS - 1),
                              minlength=N_BINS)
    cum = np.cumsum(counts)
    b = int(np.searchsorted(cum, k, side="right"))
    below = int(cum[b - 1]) if b > 0 else 0
    kept = [d2[np.minimum((d2 / hi * N_BINS).astype(np.int64), N_BINS - 1) == b]
            for d2 in _upper_values(x, block)]
    return float(np.sqrt(np.partition(np.concatenate(kept), k - below)[k - below]))


def _upper_values(x: np.ndarray, block: int) -> Iterator[np.ndarray]:
    for d2, diagonal in _pair_blocks(x, None, block):
        yield d2[np.triu_indices(d2.shape[0], 1)] if diagonal else d2.ravel()


def weighted_mmd2(k_full: np.ndarray, w_ref: np.ndarray, w_gen: np.ndarray) -> np.ndarray:
    """Unbiased MMD² for bootstrap replicates given multiplicities (no scaling).

    ``k_full``: kernel matrix of [ref; gen] rows; ``w_ref`` [B, m], ``w_gen`` [B, n]: how often
    each row occurs in each replicate. Σ_{p≠q} k over positions = wᵀKw − Σw (k(x, x) = 1).
    """
    m = w_ref.shape[1]
    k_xx, k_yy, k_xy = k_full[:m, :m], k_full[m:, m:], k_full[:m, m:]
    sm, sn = w_ref.sum(1), w_gen.sum(1)
    xx = (np.einsum("bi,ij,bj->b", w_ref, k_xx, w_ref) - sm) / (sm * (sm - 1))
    yy = (np.einsum("bi,ij,bj->b", w_gen, k_yy, w_gen) - sn) / (sn * (sn - 1))
    xy = np.einsum("bi,ij,bj->b", w_ref, k_xy, w_gen) / (sm * sn)
    return xx + yy - 2.0 * xy


def _row_weights(items, level: str, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """[B, rows] multiplicities: clips drawn with replacement, frames follow their clip."""
    counts = rng.multinomial(len(items), np.full(len(items), 1.0 / len(items)), size=n_boot)
    if level == "clip":
        return counts.astype(np.float64)
    frames = np.array([len(f.embedding) for f in items])
    return np.repeat(counts, frames, axis=1).astype(np.float64)


class KernelAudioDistance(Metric):
    """KAD (``kad@backend``), ×100; bandwidth from the reference set unless ``bandwidth=eval``."""

    info = MetricInfo(
        "kad", higher_is_better=False, kind="distribution", needs=("embedding",),
        description="unbiased Gaussian MMD² ×100 (kadtk); σ = median pairwise distance of ref",
        domain=(-np.inf, np.inf),  # the unbiased estimator goes below 0 for close sets
    )
    options = {"level": "frame", "bandwidth": "reference", "sigma": None, "block": 2048}

    def reset(self) -> None:
        self.gen: list[np.ndarray] = []
        self.ref: list[np.ndarray] = []

    def update(self, gen=None, ref=None) -> None:
        if gen is not None and len(gen):
            self.gen.append(as_float64_2d(gen, "KAD generated"))
        if ref is not None and len(ref):
            self.ref.append(as_float64_2d(ref, "KAD reference"))

    def update_items(self, gen, ref) -> None:
        self.update(rows_for_level(gen, self.opts["level"]), rows_for_level(ref, self.opts["level"]))

    def bandwidth(self, x: np.ndarray, y: np.ndarray) -> float:
        if self.opts["sigma"] is not None:
            return float(self.opts["sigma"])
        source = {"reference": x, "eval": y}.get(self.opts["bandwidth"])
        if source is None:
            raise MetricInputError("KAD bandwidth must be 'reference' or 'eval' (kadtk 1.1.0)")
        return median_pairwise_distance(source, int(self.opts["block"]))

    def compute(self) -> dict:
        if not self.gen or not self.ref:
            raise MetricInputError("KAD needs both generated and reference embeddings")
        x, y = np.concatenate(self.ref), np.concatenate(self.gen)
        sigma = self.bandwidth(x, y)
        value = SCALE * mmd2_unbiased(x, y, sigma, int(self.opts["block"]))
        return {"value": check_finite(value, "KAD"), "n_gen": len(y), "n_ref": len(x),
                "dim": x.shape[1], "sigma": sigma, "kernel": "gaussian", "scale": SCALE,
                "bandwidth_source": "fixed" if self.opts["sigma"] else self.opts["bandwidth"]}

    def bootstrap(self, gen, ref, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Clip-level bootstrap with σ fixed at the full-data bandwidth (one kernel, one σ).

        Small sets: one kernel matrix, replicates as multiplicity-weighted sums (exact same
        estimator as recomputing on the resampled rows). Large sets: resample and recompute.
        """
        x, y = np.concatenate(self.ref), np.concatenate(self.gen)
        sigma = self.bandwidth(x, y)
        if (len(x) + len(y)) ** 2 > MAX_BOOTSTRAP_KERNEL:
            fixed = type(self)(**{**self.opts, "sigma": sigma})
            return fixed._resampled_values(gen, ref, n_boot, rng)
        z = np.concatenate([x, y])
        z = z - x.mean(axis=0)
        sq = np.einsum("ij,ij->i", z, z)
        k_full = np.exp(-_sq_dists(z, z, sq, sq) / (2.0 * sigma**2 + 1e-8))
        level = self.opts["level"]
        w_ref = _row_weights(ref, level, rng, n_boot)
        w_gen = _row_weights(gen, level, rng, n_boot)
        return SCALE * weighted_mmd2(k_full, w_ref, w_gen)

    def _resampled_values(self, gen, ref, n_boot, rng) -> np.ndarray:
        return Metric.bootstrap(self, gen, ref, n_boot, rng)
