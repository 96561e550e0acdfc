"""DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) in λ = −ln σ, as in k-diffusion's dpmpp_2m.

In the EDM variables the data-prediction ODE solution over ``h = λ_{i+1} − λ_i`` is
``x_{i+1} = (σ_{i+1}/σ_i)·x − expm1(−h)·D̂`` (Lu et al. 2022, Alg. 2 with α = 1), where D̂ is
the denoised estimate. The first step uses ``D̂ = D_i`` (first order, = DDIM); later steps
extrapolate linearly with ``r = h_{i−1}/h_i``: ``D̂ = (1 + 1/(2r))·D_i − (1/(2r))·D_{i−1}``
(Alg. 2, multistep second order). The final step to σ = 0 (λ = +∞) is the limit of the first-
order update, ``x = D_i``: it is written in that form so no ``log(0)`` is ever taken.
"""
from __future__ import annotations

import torch
from torch import Tensor

from systems.samplers.base import Denoiser, Sampler, as_grid, call_denoiser


def _extrapolated(denoised: Tensor, previous: Tensor | None, h: Tensor, h_prev: Tensor | None) -> Tensor:
    """D̂ of DPM-Solver++(2M): D_i at the first step, else the 2nd-order extrapolation (Alg. 2)."""
    if previous is None or h_prev is None:
        return denoised
    half_inv_r = h / (2 * h_prev)  # 1/(2r) with r = h_prev/h
    return (1 + half_inv_r) * denoised - half_inv_r * previous


def dpmpp_2m(denoise: Denoiser, x: Tensor, sigmas: Tensor) -> Tensor:
    """Integrate from ``sigmas[0]`` to 0 with DPM-Solver++(2M) steps."""
    sigmas = as_grid(sigmas, x)
    previous, h_prev = None, None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = call_denoiser(denoise, x, sigma)
        if sigma_next == 0:  # λ_{i+1} = +∞: the update reduces to the denoised estimate
            return denoised
        h = torch.log(sigma) - torch.log(sigma_next)  # λ_{i+1} − λ_i with λ = −ln σ
        d_hat = _extrapolated(denoised, previous, h, h_prev)
        x = (sigma_next / sigma) * x - torch.expm1(-h) * d_hat  # Lu et al. 2022, Alg. 2 (α = 1)
        previous, h_prev = denoised, h
    return x


SAMPLER = Sampler(
    name="dpmpp_2m",
    fn=dpmpp_2m,
    order=2,
    stochastic=False,
    nfe_fn=lambda steps: steps,
    description="DPM-Solver++(2M) in lambda = -ln sigma (Lu et al. 2022); first step first order",
)
