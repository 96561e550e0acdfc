"""Deterministic DDIM (η = 0; Song et al. 2021, eq. 12) written in the EDM variables.

In the variance-exploding view ``x = x0 + σ·ε`` a DDIM step keeps the predicted noise
``ε̂ = (x − D)/σ`` and moves the prediction to the next level:
``x_{i+1} = D + σ_{i+1}·ε̂ = D + (σ_{i+1}/σ_i)(x − D)``.

This is algebraically identical to the Euler step in (x, σ) space:
``x + (σ_{i+1} − σ_i)(x − D)/σ_i = D + (σ_{i+1}/σ_i)(x − D)``, i.e. DDIM is Euler's method on
the ODE in (x/√ᾱ, σ) (Song et al. 2021, sec. 4.3, eq. 14). Only rounding differs (a test checks
1e-6); the separate form is kept because it is how DDIM is usually written and cited.
"""
from __future__ import annotations

from torch import Tensor

from systems.samplers.base import Denoiser, Sampler, as_grid, call_denoiser


def ddim(denoise: Denoiser, x: Tensor, sigmas: Tensor) -> Tensor:
    """η = 0 DDIM from ``sigmas[0]`` to 0: ``x ← D + (σ_{i+1}/σ_i)(x − D)``."""
    sigmas = as_grid(sigmas, x)
    for i in range(len(sigmas) - 1):
        denoised = call_denoiser(denoise, x, sigmas[i])
        x = denoised + (sigmas[i + 1] / sigmas[i]) * (x - denoised)
    return x


SAMPLER = Sampler(
    name="ddim",
    fn=ddim,
    order=1,
    stochastic=False,
    nfe_fn=lambda steps: steps,
    description="deterministic DDIM (eta = 0); identical to Euler in (x, sigma) for an EDM denoiser",
)
