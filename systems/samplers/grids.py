"""Noise-level grids (``steps + 1`` decreasing σ ending at 0) and rectified-flow time conversions.

- ``karras``: EDM's ρ-warped grid (Karras et al. 2022, eq. 5), σ_max … σ_min, then 0.
- ``log_snr``: uniform in log-SNR = −2 ln σ, i.e. log-uniform σ from σ_max to σ_min, then 0.
- ``flow_uniform``: LAFMA's uniform time grid (t = t_min … 1, t = 1 is data) as σ = (1 − t)/t.

``steps`` is the number of intervals N: a grid has N + 1 entries and N − 1 interior levels
between σ_max and σ_min. ``rf_time_to_sigma`` / ``sigma_to_rf_time`` map the rectified-flow time
of stable-audio-tools (``x_t = (1 − t)·x0 + t·ε``, t = 1 is noise) to the EDM σ and back.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from common.registry import unknown_name
from systems.api import check_steps


def _check_range(sigma_min: float, sigma_max: float) -> None:
    if not (math.isfinite(sigma_min) and math.isfinite(sigma_max) and 0 < sigma_min < sigma_max):
        raise ValueError(f"need finite 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, "
                         f"sigma_max={sigma_max}")


def _append_zero(sigmas: Tensor) -> Tensor:
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras(steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
           dtype: torch.dtype = torch.float64) -> Tensor:
    """EDM grid, Karras et al. 2022 eq. 5: σ_i = (σmax^{1/ρ} + i/(N−1)(σmin^{1/ρ} − σmax^{1/ρ}))^ρ.

    i = 0 … N−1, then σ_N = 0; ``steps == 1`` gives ``[σ_max, 0]``.
    """
    steps = check_steps(steps)
    _check_range(sigma_min, sigma_max)
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a finite number > 0 (EDM uses 7), got {rho}")
    if steps == 1:
        return torch.tensor([sigma_max, 0.0], dtype=dtype)
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)  # i/(N−1)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho).to(dtype)


def log_snr(steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0,
            dtype: torch.dtype = torch.float64) -> Tensor:
    """Uniform in log-SNR λ = −2 ln σ: ``ln σ_i`` equally spaced from ln σ_max to ln σ_min, then 0.

    ``steps == 1`` gives ``[σ_max, 0]``.
    """
    steps = check_steps(steps)
    _check_range(sigma_min, sigma_max)
    if steps == 1:
        return torch.tensor([sigma_max, 0.0], dtype=dtype)
    log_sigma = torch.linspace(math.log(sigma_max), math.log(sigma_min), steps, dtype=torch.float64)
    return _append_zero(log_sigma.exp()).to(dtype)


def flow_uniform(steps: int, t_min: float = 1e-3, dtype: torch.dtype = torch.float64) -> Tensor:
    """LAFMA's Euler grid: time uniform from t_min (noise end) to 1 (data), as EDM σ = (1 − t)/t.

    LAFMA's convention is ``x_t = t·x0 + (1 − t)·ε`` (t = 1 is data, systems-reference §1); the
    EDM point is ``x̃ = x_t / t`` with ``σ = (1 − t)/t``, so t_min = 1e-3 starts at σ = 999 and
    t = 1 ends at σ = 0.
    """
    steps = check_steps(steps)
    if not (math.isfinite(t_min) and 0 < t_min < 1):
        raise ValueError(f"t_min must lie in (0, 1) (LAFMA uses 1e-3), got {t_min}")
    t = torch.linspace(t_min, 1.0, steps + 1, dtype=torch.float64)
    return ((1 - t) / t).to(dtype)


GRIDS: dict[str, Callable[..., Tensor]] = {"karras": karras, "log_snr": log_snr, "flow_uniform": flow_uniform}


def make_grid(name: str, steps: int, **kw) -> Tensor:
    """The grid ``GRIDS[name](steps, **kw)``; unknown names raise ``UnknownNameError`` with hints."""
    if name not in GRIDS:
        raise unknown_name(name, GRIDS, "grid")
    return GRIDS[name](steps, **kw)


def rf_time_to_sigma(t: Tensor | float) -> Tensor:
    """EDM σ of rectified-flow time t (stable-audio-tools: ``x_t = (1−t)x0 + tε``, t = 1 noise).

    Dividing ``x_t`` by ``1 − t`` gives ``x0 + σε`` with ``σ = t/(1 − t)``; t = 0 → 0, t = 1 → inf.
    Returns a tensor (float64 for Python numbers).
    """
    t = t if isinstance(t, Tensor) else torch.tensor(t, dtype=torch.float64)
    if torch.isnan(t).any() or (t < 0).any() or (t > 1).any():
        raise ValueError("rectified-flow time t must lie in [0, 1] (t = 1 is pure noise)")
    return t / (1 - t)


def sigma_to_rf_time(sigma: Tensor | float) -> Tensor:
    """Inverse of ``rf_time_to_sigma``: ``t = σ/(1 + σ)`` (σ = inf → 1). ``x_t = x̃/(1 + σ)``."""
    sigma = sigma if isinstance(sigma, Tensor) else torch.tensor(sigma, dtype=torch.float64)
    if torch.isnan(sigma).any() or (sigma < 0).any():
        raise ValueError("sigma must be >= 0 (inf allowed: pure noise, t = 1)")
    return 1 / (1 + 1 / sigma)  # = σ/(1+σ), also finite at σ = inf (and 0 at σ = 0)
