"""FD∞: FD extrapolated to infinite sample size (Gui et al., ICASSP 2024; fadtk ``score_inf``).

FD is biased in 1/n. Draw n generated rows (with replacement, seeded) for ``steps`` values of n
in ``linspace(min_n, N, steps)``, compute FD against the full reference statistics, and fit
``FD(n) = slope / n + intercept`` by least squares; FD∞ is the intercept.

The reference covariance is the same for every n: it is factorised once (Cholesky, or its
symmetric root when it is not positive definite; see :mod:`metrics.frechet`) and each of the
``steps`` FDs then costs one congruence and one symmetric eigenvalue solve.
"""
from __future__ import annotations

import numpy as np

from metrics.base import MetricInfo, MetricInputError, check_finite
from metrics.frechet import (
    FrechetDistance,
    factorize,
    frechet_distance_and_path,
    gaussian_stats,
    trace_method_label,
)
from metrics.threads import limited_blas


def fd_infinity(gen_rows: np.ndarray, mu_ref, cov_ref, steps: int = 25, min_n: int = 500,
                seed: int = 0) -> dict:
    """Return ``{"value": intercept, "slope", "r2", "points": [(n, fd), ...]}``."""
    n_total = gen_rows.shape[0]
    min_n = min(min_n, n_total // 2)  # fadtk's 500 cannot apply to small sets (documented)
    if min_n < 2 or steps < 2:
        raise MetricInputError(f"FD∞ needs at least 4 generated rows and 2 steps, got {n_total}")
    ns = np.linspace(min_n, n_total, steps).astype(int)
    with limited_blas():
        fds, methods = _fd_sweep(gen_rows, mu_ref, cov_ref, ns, np.random.default_rng(seed))
    slope, intercept = np.polyfit(1.0 / ns, fds, 1)
    pred = slope / ns + intercept
    ss_res, ss_tot = np.sum((fds - pred) ** 2), np.sum((fds - np.mean(fds)) ** 2)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"value": float(intercept), "slope": float(slope), "r2": float(r2),
            "points": [[int(n), float(f)] for n, f in zip(ns, fds)],
            "trace_method": ", ".join(sorted(methods))}


def _fd_sweep(gen_rows, mu_ref, cov_ref, ns, rng) -> tuple[np.ndarray, set[str]]:
    """FD of n resampled generated rows against the reference, for each n; and the paths used."""
    factor_ref = factorize(cov_ref)  # fixed across the n sweep: factorised once
    fds, methods = [], set()
    for n in ns:
        mu, cov = gaussian_stats(gen_rows[rng.integers(0, gen_rows.shape[0], size=n)])
        fd, trace = frechet_distance_and_path(mu_ref, cov_ref, mu, cov, factor1=factor_ref)  # symmetric
        fds.append(fd)
        methods.add(trace_method_label(trace, ("ref", "gen")))
    return np.asarray(fds), methods


class FrechetDistanceInf(FrechetDistance):
    """FD∞ (``fd_inf@backend``): keeps generated rows, reference as streaming statistics."""

    info = MetricInfo(
        "fd_inf", higher_is_better=False, kind="distribution", needs=("embedding",),
        description="FD extrapolated to n→∞ by a 1/n fit (fadtk score_inf), seeded",
        domain=(-np.inf, np.inf),  # an intercept of a least-squares fit: can be < 0
    )
    options = {"level": "frame", "steps": 25, "min_n": 500, "seed": 0}
    #: each replicate refits 25 FDs; the engine caps the bootstrap at this many replicates
    max_bootstrap = 20

    def reset(self) -> None:
        super().reset()
        self.rows: list[np.ndarray] = []

    def update(self, gen=None, ref=None) -> None:
        super().update(gen, ref)
        if gen is not None and len(gen):
            self.rows.append(np.asarray(gen, np.float64))

    def compute(self) -> dict:
        mu_r, cov_r = self.ref.stats()
        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, mu_r.shape[0]))
        out = fd_infinity(rows, mu_r, cov_r, int(self.opts["steps"]), int(self.opts["min_n"]),
                          int(self.opts["seed"]))
        out["value"] = check_finite(out["value"], "FD∞")
        return {**out, "n_gen": rows.shape[0], "n_ref": self.ref.n, "dim": mu_r.shape[0]}
