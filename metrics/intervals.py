"""Bootstrap confidence intervals that stay inside a metric's range; the bias reported apart.

**What the interval is for.** Every comparison in this benchmark (rows of a leaderboard, the
floor and ceiling anchors, a run against its baseline) sets plug-in values computed at one
sample size side by side. The interval therefore describes how far the reported value θ̂ moves
when the clips are redrawn at that size, around θ̂ itself; it is not an interval for the
n → ∞ value (FD∞ estimates that one).

**Method: median-recentred percentile interval, intersected with the metric's domain.**
With replicates θ*_1..θ*_B, m* = median(θ*) and q_p their p-quantile (linear interpolation,
``np.quantile``'s default), α = 1 − level::

    CI = [θ̂ − (m* − q_{α/2}),  θ̂ + (q_{1−α/2} − m*)]  ∩  [lo, hi]          (1)

i.e. the percentile interval of the pseudo-replicates θ̂ + (θ*_b − m*), clipped to the
metric's declared domain ``MetricInfo.domain``. Properties (each tested):

- θ̂ always lies inside: q_{α/2} ≤ m* ≤ q_{1−α/2}, so both arms of (1) are ≥ 0.
- The interval lies inside the domain. Clipping cannot lower coverage: it only removes values
  the quantity cannot take (intervals for bounded parameters: Mandelkern 2002, Statist. Sci.
  17:149); and (1) is never empty, since it contains θ̂.
- Unclipped, its width is the replicates' central spread q_{1−α/2} − q_{α/2}; its arms keep the
  replicates' skew (percentile orientation). When m* = θ̂ it is the plain percentile interval.
- The bootstrap bias ``mean(θ*) − θ̂`` (Efron & Tibshirani 1993, ch. 10) is reported, never
  subtracted: a resample with replacement duplicates clips, which shifts set statistics such
  as FD and KAD upwards.

**Why not Efron's bias-corrected percentile (BC, 1981) or BCa (1987).** Their endpoints are
replicate quantiles at levels Φ(2·z0 + z_{α/2}), Φ(2·z0 + z_{1−α/2}), z0 = Φ⁻¹(#{θ* < θ̂}/B).
For FD and KAD nearly every replicate lies above θ̂ (duplicated clips): on the demo sets
(24 vs 24 clips, B = 200) 1 of 200 fd@mel replicates and none of kad@mel's fall below θ̂, so
both levels drop below 1/B and BC returns the smallest replicates: fd@mel [83.9, 87.6] around
θ̂ = 95.8, kad@mel [−0.277, −0.273] around θ̂ = −0.61, FD of a set against itself [56.06,
56.08] around 0 — near-zero width and excluding the estimate. No interval built only from
replicate quantiles can contain an estimate that lies outside all replicates; recentring (1)
can. BC also aims at the bias-free value, whereas this benchmark compares values at one size
(whose small-sample bias is shared), and for KAD, an unbiased U-statistic, the bootstrap
"bias" is only an artefact of duplicated clips: correcting for it would be wrong.
(The previous interval recentred on the mean: it could leave the domain, e.g. [−52.8, 82.9]
for FD of a set against itself, and a long right tail could push θ̂ out of it.)
"""
from __future__ import annotations

import math

import numpy as np

from metrics.base import MetricInputError

UNBOUNDED = (-math.inf, math.inf)
#: an estimate may sit this far (relative to max(1, |bound|)) outside its declared domain before
#: it is an error, e.g. 1 − cos = −2e-16 for identical embeddings (round-off, not a wrong domain)
DOMAIN_TOLERANCE = 1e-9
METHOD = "median-recentred percentile bootstrap, clipped to the metric's domain"


def bootstrap_interval(estimate: float, replicates, level: float = 0.95,
                       domain: tuple[float, float] = UNBOUNDED) -> dict:
    """Interval (1) of the module docstring for ``estimate`` from its bootstrap ``replicates``.

    Returns ``{"ci": [lo, hi], "ci_level", "bootstrap_bias", "ci_method", "ci_clipped"}``;
    ``ci_clipped`` says whether the domain cut an arm of the interval.
    """
    level = check_level(level)
    lower, upper = check_domain(domain)
    theta = check_estimate(estimate, (lower, upper))
    values = check_replicates(replicates)
    lo, hi = recentred_percentile(theta, values, level)
    # the domain widened to θ̂ keeps θ̂ inside even when round-off put it just outside
    lo_c, hi_c = max(lo, min(lower, theta)), min(hi, max(upper, theta))
    return {"ci": [lo_c, hi_c], "ci_level": level,
            "bootstrap_bias": float(values.mean()) - theta,
            "ci_method": f"{METHOD}, B={values.size}", "ci_clipped": (lo_c, hi_c) != (lo, hi)}


def recentred_percentile(estimate: float, replicates: np.ndarray, level: float) -> tuple[float, float]:
    """Unclipped interval (1): replicate quantiles moved so that their median sits on the estimate."""
    alpha = 1.0 - level
    q_lo, median, q_hi = np.quantile(replicates, [alpha / 2, 0.5, 1.0 - alpha / 2])
    # arms as differences of ordered floats: each is exactly ≥ 0, so the estimate stays inside
    return estimate - float(median - q_lo), estimate + float(q_hi - median)


def check_level(level: float) -> float:
    """The confidence level as a float strictly between 0 and 1."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise MetricInputError(f"CI level must be a number between 0 and 1, got {level!r}") from None
    if not 0.0 < value < 1.0:  # also rejects NaN
        raise MetricInputError(f"CI level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}")
    return value


def check_bootstrap_size(n_boot: int) -> int:
    """A bootstrap size: 0 (no interval) or at least 2 replicates."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)):
        raise MetricInputError(f"the bootstrap size must be a whole number, got {n_boot!r}")
    if n_boot < 0 or n_boot == 1:  # one replicate would give a zero-width "95 % CI"
        raise MetricInputError(f"the bootstrap size must be 0 (no CI) or at least 2 replicates "
                               f"(e.g. --bootstrap 100), got {n_boot}")
    return int(n_boot)


def check_replicates(replicates) -> np.ndarray:
    """Replicates as a float64 vector of at least 2 finite values."""
    values = np.asarray(replicates, dtype=np.float64)
    if values.ndim != 1:
        raise MetricInputError(f"bootstrap replicates must be a 1-d sequence, got shape {values.shape}")
    if values.size < 2:
        raise MetricInputError(f"a bootstrap interval needs at least 2 replicates, got {values.size}: "
                               "use more (e.g. --bootstrap 100), or 0 to report no interval")
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise MetricInputError(f"{bad} of {values.size} bootstrap replicates are NaN or Inf; the "
                               "metric failed on some resamples, so no interval can be given")
    return values


def check_domain(domain: tuple[float, float]) -> tuple[float, float]:
    """``(lower, upper)`` with lower < upper (infinite bounds allowed, NaN not)."""
    if len(domain) != 2:
        raise ValueError(f"a metric's domain must be (lower, upper), got {domain!r}")
    lower, upper = float(domain[0]), float(domain[1])
    if not lower < upper:
        raise ValueError(f"a metric's domain must be (lower, upper) with lower < upper, got {domain}")
    return lower, upper


def check_estimate(estimate: float, domain: tuple[float, float]) -> float:
    """The estimate as a finite float inside ``domain`` up to round-off."""
    theta = float(estimate)
    if not math.isfinite(theta):
        raise ValueError(f"cannot put an interval around a non-finite estimate ({theta})")
    lower, upper = domain
    if theta < lower - DOMAIN_TOLERANCE * max(1.0, abs(lower)) or \
            theta > upper + DOMAIN_TOLERANCE * max(1.0, abs(upper)):
        raise ValueError(f"estimate {theta} lies outside the metric's declared domain {domain}: "
                         "the metric or its MetricInfo.domain is wrong; fix the declaration")
    return theta
