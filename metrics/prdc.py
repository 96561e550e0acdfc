"""Precision, recall, density and coverage (Naeem et al. 2020, arXiv 2002.09797).

As clovaai/generative-evaluation-prdc ``prdc/prdc.py::compute_prdc(real, fake, nearest_k)``,
Euclidean distances, strict ``<``; radius ``R(x)`` = distance to the k-th nearest neighbour in
x's own set excluding x itself (the (k+1)-th smallest including self, ``get_kth_value``):

- precision = mean_j 1[∃i: d(r_i, f_j) < R(r_i)]
- recall    = mean_i 1[∃j: d(r_i, f_j) < R(f_j)]   (Kynkäänniemi et al. 2019)
- density   = (1/k) mean_j Σ_i 1[d(r_i, f_j) < R(r_i)]
- coverage  = mean_i 1[min_j d(r_i, f_j) < R(r_i)]

r = reference (real), f = generated (fake); one row per clip = mean of its embedding frames.
Distances are computed in row blocks (memory O(block·N)), so several thousand clips fit.

Bootstrap: resampling clips with replacement creates duplicates, which shrink k-NN radii
(a duplicate is its own nearest neighbour at distance 0) and bias every statistic. ``bootstrap``
therefore keeps the radii and the per-item terms computed on the full sets and resamples only
those terms: the generated clips' indicators/counts for precision and density, the reference
clips' indicators for recall and coverage.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from metrics.base import Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite
from metrics.frechet import rows_for_level

STATISTICS = ("precision", "recall", "density", "coverage")
BLOCK_ELEMENTS = 1 << 22  # distances held per block (32 MiB in float64)


def _distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] via the Gram expansion (as sklearn), clamped at 0."""
    d2 = np.einsum("ij,ij->i", a, a)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d2, 0.0, out=d2))


def _row_blocks(n_rows: int, n_cols: int) -> list[slice]:
    step = max(1, BLOCK_ELEMENTS // max(n_cols, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x [N, d] to its k-th nearest other row, [N]."""
    x_sq = np.einsum("ij,ij->i", x, x)
    radii = np.empty(len(x))
    for s in _row_blocks(len(x), len(x)):
        d = _distances(x[s], x, x_sq)
        d[np.arange(s.stop - s.start), np.arange(s.start, s.stop)] = 0.0  # self (sklearn: X is Y)
        radii[s] = np.partition(d, k, axis=1)[:, k]
    return radii


def zero_radius(x: np.ndarray, k: int) -> np.ndarray:
    """[N] bool: rows with at least k identical other rows, whose k-NN radius is exactly 0.

    Found by exact duplicate counting: the Gram expansion would return rounding noise (~1e-8)
    instead of 0 for such rows, making their balls arbitrary rather than empty.
    """
    _, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()] > k


def _checked_sets(real, fake, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Real/fake rows in float64 centred on the real mean; error unless both have > k rows."""
    real, fake = as_float64_2d(real, "PRDC reference"), as_float64_2d(fake, "PRDC generated")
    if k < 1 or len(real) <= k or len(fake) <= k:
        raise MetricInputError(f"PRDC with k={k} needs more than k clips per set, got "
                               f"{len(real)} reference and {len(fake)} generated; add clips or "
                               "lower k")
    if real.shape[1] != fake.shape[1]:
        raise MetricInputError(f"PRDC: dimension mismatch {real.shape[1]} vs {fake.shape[1]}")
    center = real.mean(axis=0)  # translation-invariant; limits cancellation in the expansion
    return real - center, fake - center


def prdc_terms(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, np.ndarray]:
    """Per-item terms: precision/density per fake row [M], recall/coverage per real row [N]."""
    real, fake = _checked_sets(real, fake, k)
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    r_real[zero_radius(real, k)], r_fake[zero_radius(fake, k)] = 0.0, 0.0  # exact, not rounding noise
    fake_sq = np.einsum("ij,ij->i", fake, fake)
    balls = np.zeros(len(fake), np.int64)  # Σ_i 1[d(r_i, f_j) < R(r_i)]
    recall, nearest = np.zeros(len(real), bool), np.empty(len(real))
    for s in _row_blocks(len(real), len(fake)):
        d = _distances(real[s], fake, fake_sq)
        balls += (d < r_real[s, None]).sum(axis=0)
        recall[s] = (d < r_fake[None, :]).any(axis=1)
        nearest[s] = d.min(axis=1)
    return {"precision": (balls > 0).astype(np.float64), "density": balls / float(k),
            "recall": recall.astype(np.float64), "coverage": (nearest < r_real).astype(np.float64)}


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage of fake [M, d] against real [N, d]."""
    return {name: float(t.mean()) for name, t in prdc_terms(real, fake, k).items()}


class _Prdc(Metric):
    """Shared accumulator: clip-level rows of both sets; ``statistic`` picks the value."""

    statistic: ClassVar[str]
    options = {"k": 5}

    def reset(self) -> None:
        self.gen: list[np.ndarray] = []
        self.ref: list[np.ndarray] = []
        self.gen_ids: list[str] = []
        self.ref_ids: list[str] = []
        self._terms: dict | None = None

    def update(self, gen=None, ref=None, gen_ids=None, ref_ids=None) -> None:
        """Add clip rows gen [N, d] / ref [M, d] (ids optional, for ``per_item``)."""
        self._add(gen, gen_ids, self.gen, self.gen_ids)
        self._add(ref, ref_ids, self.ref, self.ref_ids)
        self._terms = None

    def _add(self, rows, ids, store: list, id_store: list) -> None:
        if rows is None or not len(rows):
            return
        rows = as_float64_2d(rows, f"{self.info.name} rows")
        seen = self.gen + self.ref
        if seen and rows.shape[1] != seen[0].shape[1]:
            raise MetricInputError(f"{self.info.name}: got {rows.shape[1]}-d rows after "
                                   f"{seen[0].shape[1]}-d; use one backend for both sets")
        ids = list(ids) if ids is not None else [f"#{len(id_store) + i}" for i in range(len(rows))]
        if len(ids) != len(rows):
            raise MetricInputError(f"{self.info.name}: {len(rows)} rows but {len(ids)} ids")
        store.append(rows)
        id_store.extend(ids)

    def update_items(self, gen, ref) -> None:
        self.update(rows_for_level(gen, "clip"), rows_for_level(ref, "clip"),
                    [f.id for f in gen], [f.id for f in ref])

    def terms(self) -> dict[str, np.ndarray]:
        if self._terms is None:
            if not self.gen or not self.ref:
                raise MetricInputError(f"{self.info.name} needs generated and reference clips")
            self._terms = prdc_terms(np.concatenate(self.ref), np.concatenate(self.gen),
                                     int(self.opts["k"]))
        return self._terms

    def degenerate_radii(self) -> str | None:
        """Error if every radius this statistic uses is zero; a warning text if some are."""
        side, rows = (("generated", self.gen) if self.statistic == "recall" else ("reference", self.ref))
        if not rows:
            return None
        k, zero = int(self.opts["k"]), zero_radius(np.concatenate(rows), int(self.opts["k"]))
        if zero.all():
            raise MetricInputError(
                f"{self.info.name}: all {len(zero)} {side} embeddings have at least k={k} identical "
                f"copies, so every k-NN radius is zero and {self.info.name} is undefined (it would be 0 "
                "by construction); typical cause: silent or identical clips. Use distinct clips.")
        if zero.any():
            return (f"{int(zero.sum())} of {len(zero)} {side} embeddings have at least k={k} identical "
                    "copies: their k-NN balls are empty (radius 0)")
        return None

    def compute(self) -> dict:
        warning = self.degenerate_radii()
        means = {name: float(t.mean()) for name, t in self.terms().items()}
        if warning:
            means["warning"] = warning
        return {"value": check_finite(means[self.statistic], self.info.name),
                "n_gen": len(self.gen_ids), "n_ref": len(self.ref_ids), "k": int(self.opts["k"]),
                "dim": self.gen[0].shape[1], **means}

    def per_item(self) -> dict[str, float]:
        """Per-clip term: generated ids (precision, density) or reference ids (recall, coverage)."""
        ids = self.gen_ids if self.statistic in ("precision", "density") else self.ref_ids
        return dict(zip(ids, self.terms()[self.statistic].tolist()))

    def bootstrap(self, gen, ref, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Resample the full-set per-item terms (radii fixed; see the module docstring)."""
        full = type(self)(**self.opts)
        full.update_items(gen, ref)
        t = full.terms()[self.statistic]
        return np.asarray([t[rng.integers(0, len(t), size=len(t))].mean() for _ in range(n_boot)])


def _info(name: str, description: str, domain: tuple[float, float] = (0.0, 1.0)) -> MetricInfo:
    return MetricInfo(name, higher_is_better=True, kind="distribution", needs=("embedding",),
                      description=description, domain=domain)


class Precision(_Prdc):
    """Fraction of generated clips inside some reference k-NN ball (``precision@backend``)."""

    statistic = "precision"
    info = _info("precision", "PRDC precision (Naeem et al. 2020, clovaai prdc), k-NN balls")


class Recall(_Prdc):
    """Fraction of reference clips inside some generated k-NN ball (``recall@backend``)."""

    statistic = "recall"
    info = _info("recall", "PRDC recall (Kynkäänniemi et al. 2019 form, clovaai prdc)")


class Density(_Prdc):
    """Mean count of reference k-NN balls holding each generated clip, over k."""

    statistic = "density"
    info = _info("density", "PRDC density (Naeem et al. 2020); can exceed 1", (0.0, np.inf))


class Coverage(_Prdc):
    """Fraction of reference clips whose k-NN ball holds some generated clip."""

    statistic = "coverage"
    info = _info("coverage", "PRDC coverage (Naeem et al. 2020, clovaai prdc)")
