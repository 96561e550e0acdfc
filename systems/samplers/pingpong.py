"""Consistency-model multistep sampling ("ping-pong"; Song et al. 2023, Algorithm 1).

Each interval jumps to the data with one denoiser call, ``x0 = D(x, σ_i)``, then re-noises to
the next level with fresh noise, ``x ← x0 + σ_{i+1}·ε`` (no noise on the last step to σ = 0).
It samples the data exactly when the network is a consistency function (the PF-ODE map to
σ = 0); with a posterior-mean denoiser D it is not an ODE solver, and its output (a posterior
mean at the last positive level) is under-dispersed (std → s/√2 for N(μ, s²) data).
``N`` denoiser evaluations; the noise comes from ``generator`` (required).
"""
from __future__ import annotations

import torch
from torch import Tensor

from systems.samplers.base import Denoiser, Sampler, as_grid, call_denoiser, gaussian_noise, require_generator


def pingpong(denoise: Denoiser, x: Tensor, sigmas: Tensor, *,
             generator: torch.Generator | None = None) -> Tensor:
    """Denoise fully, re-noise to ``σ_{i+1}``; ``generator`` supplies the noise (required)."""
    require_generator(generator, "pingpong")  # fail before any network call if missing
    sigmas = as_grid(sigmas, x)
    for i in range(len(sigmas) - 1):
        x = call_denoiser(denoise, x, sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * gaussian_noise(x, generator, "pingpong")
    return x


SAMPLER = Sampler(
    name="pingpong",
    fn=pingpong,
    order=1,
    stochastic=True,
    nfe_fn=lambda steps: steps,
    description="consistency-model multistep: denoise to x0, re-noise to the next sigma",
)
