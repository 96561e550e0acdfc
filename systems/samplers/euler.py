"""Euler sampler for the EDM probability-flow ODE (Karras et al. 2022, eqs. 1 and 3).

With ``x = x0 + σ·ε`` the probability-flow ODE is ``dx/dσ = (x − D(x, σ))/σ`` (Karras et al.
2022: eq. 1 with σ(t) = t and the score of eq. 3, ∇log p = (D − x)/σ²).
One Euler step per interval: ``N`` denoiser evaluations.
"""
from __future__ import annotations

from torch import Tensor

from systems.samplers.base import Denoiser, Sampler, as_grid, call_denoiser


def euler(denoise: Denoiser, x: Tensor, sigmas: Tensor) -> Tensor:
    """Integrate from ``sigmas[0]`` to 0 with explicit Euler steps in σ."""
    sigmas = as_grid(sigmas, x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        d = (x - call_denoiser(denoise, x, sigma)) / sigma  # slope dx/dσ (Karras et al. 2022, eqs. 1 + 3)
        x = x + (sigma_next - sigma) * d
    return x


SAMPLER = Sampler(
    name="euler",
    fn=euler,
    order=1,
    stochastic=False,
    nfe_fn=lambda steps: steps,
    description="first-order Euler steps on the EDM probability-flow ODE",
)
