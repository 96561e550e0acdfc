"""Fréchet distance between Gaussian fits of two embedding sets (FAD when the embedding is audio).

``FD = ||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1^1/2 S2 S1^1/2)``.
The trace term equals ``Tr sqrt(S1 S2)`` (S1 S2 is similar to the symmetric PSD matrix
S1^1/2 S2 S1^1/2), so we use two symmetric eigendecompositions in float64 instead of
``scipy.linalg.sqrtm`` of the non-symmetric product, which is slower and can return complex or
negative values on rank-deficient covariances (fadtk#38, stable-audio-metrics#16).
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from metrics.base import Features, Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite


def psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix (negative round-off eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray, root1: np.ndarray | None = None) -> float:
    """``Tr sqrt(S1 S2)`` via the symmetric form ``Tr sqrt(S1^1/2 S2 S1^1/2)``.

    ``root1``: ``psd_sqrt(cov1)`` when the caller reuses one S1 across many S2 (FD∞).
    """
    root1 = psd_sqrt(cov1) if root1 is None else root1
    middle = root1 @ cov2 @ root1
    w = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(mu1, cov1, mu2, cov2, root1: np.ndarray | None = None) -> float:
    """FD between N(mu1, cov1) and N(mu2, cov2); float64; clamped at 0 against round-off."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
        raise MetricInputError(f"FD: dimension mismatch {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2, root1)
    return max(float(fd), 0.0)


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (``np.cov(rowvar=False)``) of rows, float64."""
    x = as_float64_2d(x, "FD statistics")
    if x.shape[0] < 2:
        raise MetricInputError(f"FD needs at least 2 rows per set, got {x.shape[0]}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


class GaussianAccumulator:
    """Streaming mean/covariance in float64, shifted by the first row against cancellation."""

    def __init__(self) -> None:
        self.n, self.shift, self.sum, self.sumsq = 0, None, None, None

    def update(self, x: np.ndarray) -> None:
        x = as_float64_2d(x, "FD statistics")
        if self.shift is None:
            d = x.shape[1]
            self.shift, self.sum, self.sumsq = x[0].copy(), np.zeros(d), np.zeros((d, d))
        if x.shape[1] != self.shift.shape[0]:
            raise MetricInputError(f"FD: got {x.shape[1]}-d rows after {self.shift.shape[0]}-d")
        xc = x - self.shift
        self.n += x.shape[0]
        self.sum += xc.sum(axis=0)
        self.sumsq += xc.T @ xc

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise MetricInputError(f"FD needs at least 2 rows per set, got {self.n}")
        mean_c = self.sum / self.n
        cov = (self.sumsq - self.n * np.outer(mean_c, mean_c)) / (self.n - 1)
        return mean_c + self.shift, cov


def rows_for_level(items: Sequence[Features], level: str) -> np.ndarray:
    """Stack embedding frames (``frame``, fadtk convention) or per-clip means (``clip``)."""
    if not items:
        return np.zeros((0, 0))
    if level == "frame":
        return np.concatenate([np.asarray(f.embedding, np.float64) for f in items])
    if level == "clip":
        return np.stack([np.asarray(f.embedding, np.float64).mean(axis=0) for f in items])
    raise MetricInputError(f"level must be 'frame' or 'clip', got {level!r}")


class FrechetDistance(Metric):
    """FD between generated and reference embeddings (``fd@backend``)."""

    info = MetricInfo(
        "fd", higher_is_better=False, kind="distribution", needs=("embedding",),
        description="Fréchet distance of Gaussian fits (FAD); symmetric eigen form, float64",
    )
    options = {"level": "frame"}

    def reset(self) -> None:
        self.gen, self.ref = GaussianAccumulator(), GaussianAccumulator()

    def update(self, gen: np.ndarray | None = None, ref: np.ndarray | None = None) -> None:
        """Add rows [N, d] to the generated and/or reference set."""
        if gen is not None and len(gen):
            self.gen.update(gen)
        if ref is not None and len(ref):
            self.ref.update(ref)

    def update_items(self, gen, ref) -> None:
        self.update(rows_for_level(gen, self.opts["level"]), rows_for_level(ref, self.opts["level"]))

    def compute(self) -> dict:
        mu_g, cov_g = self.gen.stats()
        mu_r, cov_r = self.ref.stats()
        d = mu_g.shape[0]
        out = {"value": check_finite(frechet_distance(mu_g, cov_g, mu_r, cov_r), "FD"),
               "n_gen": self.gen.n, "n_ref": self.ref.n, "dim": d}
        if min(self.gen.n, self.ref.n) <= d:
            out["warning"] = (f"n <= d (n_gen={self.gen.n}, n_ref={self.ref.n}, d={d}): covariance "
                              "is rank-deficient; FD is biased and unstable at this size")
            warnings.warn(out["warning"], stacklevel=2)
        return out
