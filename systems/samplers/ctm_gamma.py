"""CTM γ-sampling, the sampler slot of SoundCTM (Kim et al. 2024; Saito et al. 2025).

A trajectory model ``G(x, t, s)`` jumps along the probability-flow ODE from noise level ``t`` to
``s ≤ t``. γ-sampling (CTM) mixes deterministic jumps and fresh noise: at each
interval it jumps to ``s̃ = √(1−γ²)·σ_{i+1}`` and re-noises with ``γ·σ_{i+1}·ε``, so the noise
variance adds up to ``σ_{i+1}²`` again (``s̃² + γ²σ_{i+1}² = σ_{i+1}²``):

- γ = 0: deterministic jumps σ_i → σ_{i+1} (with the default DDIM jump this *is* DDIM);
- γ = 1: jump to 0 then re-noise to σ_{i+1} (consistency-model multistep = ``pingpong``).

No noise is added on the last step (σ_{i+1} = 0). Without a ``jump`` the trajectory model is
built from the denoiser as the exact-for-``D`` DDIM jump ``G(x, t, s) = D + (s/t)(x − D)``
(CTM's "euler" outer parametrisation).

Landing on σ_min (SoundCTM, ``ctm/inference_sampling.py``): with ``sigma_min > 0`` the grid's final
0 stands for σ_min, the level SoundCTM's sampler ends on (its grid is the Karras grid of S + 1
levels σ_max … σ_min, given here as its first S levels and the contract's closing 0). Every jump
then targets ``s̃ = √(1−γ²)(σ_{i+1} − σ_min) + σ_min`` and re-noises with ``√(σ_{i+1}² − s̃²)·ε``
(no noise on the last step, which lands on σ_min itself for every γ). ``sigma_min = 0`` (the
default) is the plain CTM sampler above, to the bit.

``N`` network evaluations: one jump per interval (a denoiser call for the default jump).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from systems.samplers.base import (
    Denoiser,
    Sampler,
    as_grid,
    batch_sigma,
    call_denoiser,
    gaussian_noise,
    per_sample,
    require_generator,
)

#: ``jump(x [B, ...], t [B], s [B]) -> x_s``: the trajectory model G from σ = t to σ = s
Jump = Callable[[Tensor, Tensor, Tensor], Tensor]


def ddim_jump(denoise: Denoiser) -> Jump:
    """The jump ``G(x, t, s) = D(x, t) + (s/t)(x − D(x, t))`` built from an EDM denoiser."""
    def jump(x: Tensor, t: Tensor, s: Tensor) -> Tensor:
        denoised = denoise(x, t)
        return denoised + per_sample(s / t, x) * (x - denoised)
    return jump


def _check_gamma(gamma: float) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be a number in [0, 1] (0 = deterministic jumps, 1 = consistency "
                         f"multistep), got {gamma!r}")
    return float(gamma)


def _checked_jump(jump: Jump, x: Tensor, t: Tensor, s: Tensor) -> Tensor:
    out = jump(x, t, s)
    if not isinstance(out, Tensor) or out.shape != x.shape:
        raise ValueError(f"jump(x, t, s) must return a tensor shaped like x {tuple(x.shape)}")
    return out.to(dtype=x.dtype)


def _check_sigma_min(sigma_min: float, sigmas: Tensor) -> float:
    number = isinstance(sigma_min, (int, float)) and not isinstance(sigma_min, bool)
    if not number or not math.isfinite(sigma_min) or sigma_min < 0:
        raise ValueError(f"sigma_min must be a finite number >= 0 (0 = end on the data), got {sigma_min!r}")
    if sigma_min > 0 and not float(sigmas[-2]) > sigma_min * (1 + 1e-6):   # a jump of (almost) 0 is a mistake
        raise ValueError(f"sigma_min {sigma_min:g} must lie below the grid's last positive level "
                         f"{float(sigmas[-2]):g}: the grid's closing 0 stands for sigma_min")
    return float(sigma_min)


def ctm_gamma(denoise: Denoiser, x: Tensor, sigmas: Tensor, *, gamma: float = 0.0,
              jump: Jump | None = None, sigma_min: float = 0.0,
              generator: torch.Generator | None = None) -> Tensor:
    """γ-sampling from ``sigmas[0]`` to 0 (CTM), or to ``sigma_min`` > 0 (SoundCTM: the closing 0 of
    ``sigmas`` then stands for σ_min); ``generator`` is required when γ > 0."""
    gamma = _check_gamma(gamma)
    floor = _check_sigma_min(sigma_min, sigmas)
    if gamma > 0:
        require_generator(generator, "ctm_gamma (gamma > 0)")
    if jump is None:
        jump = ddim_jump(lambda y, sigma: call_denoiser(denoise, y, sigma))
    if floor > 0:
        return _landing_on(floor, jump, x, as_grid(sigmas, x), gamma, generator)
    sigmas = as_grid(sigmas, x)
    shrink = math.sqrt(1.0 - gamma**2)
    for i in range(len(sigmas) - 1):
        target = batch_sigma(shrink * sigmas[i + 1], x)  # s̃ = √(1−γ²)·σ_{i+1}
        x = _checked_jump(jump, x, batch_sigma(sigmas[i], x), target)
        if gamma > 0 and sigmas[i + 1] > 0:
            x = x + gamma * sigmas[i + 1] * gaussian_noise(x, generator, "ctm_gamma")
    return x


def _landing_on(floor: float, jump: Jump, x: Tensor, sigmas: Tensor, gamma: float, generator) -> Tensor:
    """SoundCTM's loop: levels σ_0 … σ_{S−1}, then σ_min in place of the closing 0."""
    levels = [float(sigma) for sigma in sigmas[:-1]] + [floor]
    shrink = math.sqrt(1.0 - gamma**2)
    for i in range(len(levels) - 1):
        target = shrink * (levels[i + 1] - floor) + floor   # s̃ = √(1−γ²)(σ_{i+1} − σ_min) + σ_min
        x = _checked_jump(jump, x, batch_sigma(levels[i], x), batch_sigma(target, x))
        if gamma > 0 and i + 2 < len(levels):
            scale = math.sqrt(max(levels[i + 1] ** 2 - target**2, 0.0))
            x = x + scale * gaussian_noise(x, generator, "ctm_gamma")
    return x


SAMPLER = Sampler(
    name="ctm_gamma",
    fn=ctm_gamma,
    order=1,
    stochastic=True,
    nfe_fn=lambda steps: steps,
    description="CTM gamma-sampling (SoundCTM); gamma=0 is DDIM-like jumps, gamma=1 is ping-pong; "
                "sigma_min > 0 lands on sigma_min (SoundCTM's sampler)",
)
