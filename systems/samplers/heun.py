"""EDM's deterministic 2nd-order Heun sampler (Karras et al. 2022, Algorithm 1 without churn).

Each interval takes an Euler predictor step, then averages the ODE slopes ``(x − D)/σ`` at σ_i
and at σ_{i+1} (the trapezoidal corrector of Alg. 1). The last step, to σ = 0, is a
plain Euler step (the slope is undefined at σ = 0), so ``N`` intervals cost ``2N − 1``
denoiser evaluations.
"""
from __future__ import annotations

from torch import Tensor

from systems.samplers.base import Denoiser, Sampler, as_grid, call_denoiser


def _slope(denoise: Denoiser, x: Tensor, sigma: Tensor) -> Tensor:
    """dx/dσ = (x − D(x, σ))/σ (Karras et al. 2022, eqs. 1 + 3)."""
    return (x - call_denoiser(denoise, x, sigma)) / sigma


def heun(denoise: Denoiser, x: Tensor, sigmas: Tensor) -> Tensor:
    """Integrate from ``sigmas[0]`` to 0 with Heun steps (Euler for the final step to 0)."""
    sigmas = as_grid(sigmas, x)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        d = _slope(denoise, x, sigma)
        x_euler = x + (sigma_next - sigma) * d  # Euler predictor
        if sigma_next == 0:
            x = x_euler
        else:
            d_next = _slope(denoise, x_euler, sigma_next)  # slope at the predicted point
            x = x + (sigma_next - sigma) * (d + d_next) / 2  # trapezoidal rule: mean of both slopes
    return x


SAMPLER = Sampler(
    name="heun",
    fn=heun,
    order=2,
    stochastic=False,
    nfe_fn=lambda steps: 2 * steps - 1,
    description="EDM 2nd-order Heun (Karras et al. 2022 Alg. 1, no churn); last step Euler",
)
