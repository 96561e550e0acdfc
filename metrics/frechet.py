"""Fréchet distance between Gaussian fits of two embedding sets (FAD when the embedding is audio).

``FD = ||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2)``.

Trace term: one Cholesky factorisation and one symmetric eigenvalue solve. With S1 = L Lᵀ
(L invertible), ``S1 S2 = L (Lᵀ S2 L) L⁻¹`` is similar to ``Lᵀ S2 L``, a congruence of S2 and
so symmetric PSD; hence ``Tr sqrt(S1 S2) = Σ sqrt(λ_i)``, ``λ = eigvalsh(Lᵀ S2 L)`` (negative
round-off λ clipped to 0). In float64 this matches ``scipy.linalg.sqrtm(S1 @ S2)`` to 1e-9 and is
≥ 10× faster at d = 2048 (tests/benchmarks/test_speed.py): sqrtm runs a Schur decomposition of a
non-symmetric product and can return complex or negative traces on rank-deficient covariances
(fadtk#38, stable-audio-metrics#16).

Cholesky needs a positive definite matrix; FD is symmetric, so S2 is factorised when S1 is not.
When neither is (n ≤ d, duplicated rows) we fall back to the symmetric root F = S1^1/2 (one
eigendecomposition): ``F Fᵀ S2`` and ``Fᵀ S2 F`` share their nonzero eigenvalues, so the same sum
holds. The path taken is returned and reported (``trace_method`` in the metric's details). The
linear algebra runs under the BLAS thread policy of :mod:`metrics.threads`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dtrmm

from metrics.base import Features, Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite
from metrics.threads import limited_blas

#: a Cholesky pivot (a conditional variance) at or below d·eps of the largest variance is round-off:
#: the covariance is numerically singular and the factor would be noise, so we fall back
PIVOT_RTOL_PER_DIM = np.finfo(np.float64).eps


@dataclass(frozen=True)
class CovFactor:
    """F with S = F Fᵀ: Cholesky's lower-triangular L, or the symmetric root where S is not PD."""

    matrix: np.ndarray
    method: str  # "cholesky" or "eigen"


class TraceSqrt(NamedTuple):
    """``Tr sqrt(S1 S2)``, how it was computed, and which covariance (1 or 2) was factorised."""

    value: float
    method: str
    factored: int


def psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix (negative round-off eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def cholesky_factor(cov: np.ndarray) -> CovFactor | None:
    """Lower Cholesky factor of ``cov``, or None when it is not (numerically) positive definite."""
    try:
        low = scipy.linalg.cholesky(cov, lower=True, check_finite=False)
    except np.linalg.LinAlgError:  # a non-positive pivot: not positive definite
        return None
    pivots = np.diag(low) ** 2
    scale = np.diag(cov).max(initial=0.0)
    if pivots.min(initial=np.inf) <= cov.shape[0] * PIVOT_RTOL_PER_DIM * scale:
        return None
    return CovFactor(low, "cholesky")


def factorize(cov: np.ndarray) -> CovFactor:
    """Cholesky where ``cov`` is positive definite, else its symmetric PSD root (eigen path).

    Compute it once for a covariance reused against many others (FD∞'s fixed reference).
    """
    cov = np.asarray(cov, np.float64)
    with limited_blas():
        factor = cholesky_factor(cov)
        return factor if factor is not None else CovFactor(psd_sqrt(cov), "eigen")


def congruence(factor: CovFactor, cov: np.ndarray) -> np.ndarray:
    """``Fᵀ S F``; for a triangular (Cholesky) F as two BLAS trmm products, half a gemm's flops."""
    f = factor.matrix
    if factor.method != "cholesky":
        return f.T @ cov @ f
    right = dtrmm(1.0, f, cov, side=1, lower=1)  # S L
    return dtrmm(1.0, f, right, lower=1, trans_a=1, overwrite_b=1)  # Lᵀ (S L)


def trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray, factor1: CovFactor | None = None) -> TraceSqrt:
    """``Tr sqrt(S1 S2)`` via ``eigvalsh(Fᵀ S_other F)`` (module docstring).

    ``factor1``: ``factorize(cov1)`` when the caller reuses one S1 across many S2 (FD∞); without
    it S1 is Cholesky-factorised, else S2, else S1's symmetric root is used.
    """
    with limited_blas():
        factor, factored = (factor1, 1) if factor1 is not None else _choose_factor(cov1, cov2)
        other = cov2 if factored == 1 else cov1
        # eigh reads one triangle: the product's round-off asymmetry (~eps) is dropped, not averaged
        w = scipy.linalg.eigh(congruence(factor, other), eigvals_only=True, lower=True,
                              overwrite_a=True, check_finite=False)
    return TraceSqrt(float(np.sqrt(np.clip(w, 0.0, None)).sum()), factor.method, factored)


def _choose_factor(cov1: np.ndarray, cov2: np.ndarray) -> tuple[CovFactor, int]:
    """Cholesky of S1, else of S2 (FD is symmetric), else S1's symmetric root; and which one."""
    for which, cov in ((1, cov1), (2, cov2)):
        factor = cholesky_factor(cov)
        if factor is not None:
            return factor, which
    return CovFactor(psd_sqrt(cov1), "eigen"), 1


def frechet_distance_and_path(mu1, cov1, mu2, cov2, factor1: CovFactor | None = None
                              ) -> tuple[float, TraceSqrt]:
    """FD between N(mu1, cov1) and N(mu2, cov2) and the trace term's path; float64, clamped at 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != mu1.shape * 2:
        raise MetricInputError(f"FD: dimension mismatch, means {mu1.shape} vs {mu2.shape}, "
                               f"covariances {cov1.shape} vs {cov2.shape}")
    if not (np.isfinite(cov1).all() and np.isfinite(cov2).all()):
        raise MetricInputError("FD: a covariance contains NaN or Inf; check the embeddings")
    diff = mu1 - mu2
    trace = trace_sqrt_product(cov1, cov2, factor1)
    fd = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace.value
    return max(float(fd), 0.0), trace


def frechet_distance(mu1, cov1, mu2, cov2, factor1: CovFactor | None = None) -> float:
    """FD between N(mu1, cov1) and N(mu2, cov2); float64; clamped at 0 against round-off."""
    return frechet_distance_and_path(mu1, cov1, mu2, cov2, factor1)[0]


def frechet_distance_from_rows(x: np.ndarray, y: np.ndarray) -> float:
    """FD of the Gaussian fits of row sets x [n1, d] and y [n2, d], in the data (Gram) form.

    With A = (x − μx)/√(n1−1) and B = (y − μy)/√(n2−1), S1 = AᵀA and S2 = BᵀB, so
    ``Tr S1 = ‖A‖²_F`` and the nonzero eigenvalues of S1 S2 = AᵀA BᵀB are those of
    (A Bᵀ)(A Bᵀ)ᵀ: ``Tr sqrt(S1 S2) = Σ σ_i(A Bᵀ)``, the nuclear norm of an n1 × n2 matrix.
    Exact, and cheap when a set has no more rows than dimensions (the bootstrap of FD on small
    sets: O(n1·n2·d) instead of O(d³), no rank-deficient covariance to factorise).
    """
    x, y = as_float64_2d(x, "FD rows"), as_float64_2d(y, "FD rows")
    if min(len(x), len(y)) < 2:
        raise MetricInputError(f"FD needs at least 2 rows per set, got {len(x)} and {len(y)}")
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    with limited_blas():
        a, b = (x - mu_x) / np.sqrt(len(x) - 1), (y - mu_y) / np.sqrt(len(y) - 1)
        nuclear = scipy.linalg.svdvals(a @ b.T, check_finite=False).sum()
        diff = mu_x - mu_y
        fd = diff @ diff + np.einsum("ij,ij->", a, a) + np.einsum("ij,ij->", b, b) - 2.0 * nuclear
    return max(float(fd), 0.0)


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (``np.cov(rowvar=False)``) of rows, float64."""
    x = as_float64_2d(x, "FD statistics")
    if x.shape[0] < 2:
        raise MetricInputError(f"FD needs at least 2 rows per set, got {x.shape[0]}")
    with limited_blas():
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
        with limited_blas():
            self.sumsq += xc.T @ xc

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise MetricInputError(f"FD needs at least 2 rows per set, got {self.n}")
        mean_c = self.sum / self.n
        cov = (self.sumsq - self.n * np.outer(mean_c, mean_c)) / (self.n - 1)
        return mean_c + self.shift, cov


def trace_method_label(trace: TraceSqrt, names: tuple[str, str]) -> str:
    """``"cholesky(ref)"``: the trace term's path and the set whose covariance was factorised."""
    return f"{trace.method}({names[trace.factored - 1]})"


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
        description="Fréchet distance of Gaussian fits (FAD); Cholesky + symmetric eigenvalues "
                    "(eigen-root fallback; Gram form for bootstrap replicates with n <= d), float64",
        domain=(0.0, np.inf),
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
        value, trace = frechet_distance_and_path(mu_g, cov_g, mu_r, cov_r)
        out = {"value": check_finite(value, "FD"), "n_gen": self.gen.n, "n_ref": self.ref.n, "dim": d,
               "trace_method": trace_method_label(trace, ("gen", "ref"))}
        if min(self.gen.n, self.ref.n) <= d:
            out["warning"] = (f"n <= d (n_gen={self.gen.n}, n_ref={self.ref.n}, d={d}): covariance "
                              "is rank-deficient; FD is biased and unstable at this size")
            warnings.warn(out["warning"], stacklevel=2)
        return out

    def bootstrap(self, gen, ref, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """The draws of ``Metric.resample`` (clips, each set independently); where a replicate
        has no more rows than dimensions, FD from its rows in the Gram form
        (``frechet_distance_from_rows``), which skips the d × d covariances."""
        level = self.opts["level"]
        g_rows = [rows_for_level([f], level) for f in gen]
        r_rows = [rows_for_level([f], level) for f in ref]
        return np.asarray([self._rows_replicate(g_rows, r_rows, rng) for _ in range(n_boot)], np.float64)

    def _rows_replicate(self, g_rows, r_rows, rng: np.random.Generator) -> float:
        gi = rng.integers(0, len(g_rows), size=len(g_rows)) if g_rows else []
        ri = rng.integers(0, len(r_rows), size=len(r_rows)) if r_rows else []
        x = np.concatenate([g_rows[i] for i in gi])
        y = np.concatenate([r_rows[i] for i in ri])
        if min(len(x), len(y)) <= x.shape[1]:
            return frechet_distance_from_rows(x, y)
        fresh = type(self)(**self.opts)
        fresh.update(x, y)
        return fresh.compute()["value"]
