"""Sampler contract and the helpers every sampler shares.

EDM view (Karras et al. 2022, sec. 2): the data is ``x0``; a noisy point is ``x = x0 + σ·ε``. A
*denoiser* ``denoise(x [B, ...], sigma [B]) -> [B, ...]`` estimates ``E[x0 | x]``. A sampler is a
pure function ``fn(denoise, x, sigmas, **options)`` that integrates from ``sigmas[0]`` down to
``sigmas[-1] == 0``, starting from an ``x`` the caller has already scaled (``x = sigmas[0]·ε``).

``Sampler`` wraps such a function with its metadata (order, stochasticity, NFE per step count)
and validates the inputs before calling it. Samplers never modify their inputs in place and
compute in the dtype of ``x``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import torch
from torch import Tensor

from systems.api import check_steps

#: ``denoise(x [B, ...], sigma [B]) -> estimate of x0``, same shape as ``x``
Denoiser = Callable[[Tensor, Tensor], Tensor]


def as_grid(sigmas: Tensor, x: Tensor) -> Tensor:
    """``sigmas`` on the device and in the dtype of ``x`` (samplers compute in x's dtype)."""
    return torch.as_tensor(sigmas).to(device=x.device, dtype=x.dtype)


def batch_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """Per-sample noise levels ``[B]`` for a scalar ``sigma`` (a view: ``sigma.expand(B)``)."""
    sigma = torch.as_tensor(sigma).to(device=x.device, dtype=x.dtype)
    return sigma.expand(x.shape[0])


def per_sample(values: Tensor, x: Tensor) -> Tensor:
    """Reshape per-sample values ``[B]`` to ``[B, 1, ..., 1]`` so they broadcast against ``x``."""
    return values.reshape(values.shape[0], *([1] * (x.ndim - 1)))


def call_denoiser(denoise: Denoiser, x: Tensor, sigma: Tensor | float) -> Tensor:
    """``D(x, σ)`` with a per-sample sigma; checks the shape and returns it in x's dtype."""
    out = denoise(x, batch_sigma(sigma, x))
    if not isinstance(out, Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"the denoiser must return a tensor shaped like x {tuple(x.shape)}, got {got}")
    return out.to(dtype=x.dtype)


#: one generator for the whole batch, or one per item (row i's noise from generators[i], so a
#: sample does not depend on which other items share its batch)
Generators = Union[torch.Generator, Sequence[torch.Generator]]


def require_generator(generator: Generators | None, sampler: str) -> Generators:
    """``generator`` (one, or a sequence with one per item), or a ValueError saying one is needed."""
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (list, tuple)) and generator and all(
            isinstance(g, torch.Generator) for g in generator):
        return generator
    raise ValueError(
        f"sampler {sampler!r} draws noise and needs generator=torch.Generator(device=x.device)"
        f".manual_seed(seed) (reproducible samples), or a list with one generator per item; "
        f"got {type(generator).__name__}"
    )


def gaussian_noise(x: Tensor, generator: Generators | None, sampler: str) -> Tensor:
    """Standard normal noise shaped like ``x`` from ``generator`` (required; one or one per item)."""
    generator = require_generator(generator, sampler)
    if isinstance(generator, torch.Generator):
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if len(generator) != x.shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {x.shape[0]}: give one per item")
    rows = [torch.randn(tuple(x.shape[1:]), generator=g, dtype=x.dtype, device=g.device) for g in generator]
    return torch.stack(rows).to(x.device)


def validate_grid(sigmas: Any) -> None:
    """Reject anything but a finite, 1-D, strictly decreasing grid ending exactly at 0."""
    if not isinstance(sigmas, Tensor) or not sigmas.is_floating_point():
        raise ValueError("sigmas must be a 1-D floating-point torch.Tensor (e.g. grids.karras(steps))")
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError(f"sigmas must be 1-D with at least 2 entries (steps + 1), got shape "
                         f"{tuple(sigmas.shape)}; build it with systems.samplers.grids.make_grid")
    if not torch.isfinite(sigmas).all():
        raise ValueError("sigmas contains NaN or Inf; every noise level must be finite")
    if not bool((sigmas[1:] < sigmas[:-1]).all()):
        raise ValueError(f"sigmas must be strictly decreasing (from sigma_max down to 0), got "
                         f"{sigmas.tolist()}; remove repeated levels or reverse the grid")
    if float(sigmas[-1]) != 0.0:
        raise ValueError(f"sigmas must end exactly at 0 (the data), last entry is {float(sigmas[-1])}; "
                         f"append 0 (grids.karras/log_snr already do)")


def validate_start(x: Any) -> None:
    """Reject a start point that is not a finite floating tensor with a batch dimension."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < 1:
        raise ValueError("x must be a floating-point torch.Tensor shaped [B, ...] (batch first)")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or Inf; start from x = sigmas[0] * noise with finite noise")


@dataclass(frozen=True)
class Sampler:
    """A named sampler: ``fn(denoise, x, sigmas, [*, generator], **options)`` plus metadata.

    ``order``: order of accuracy of the ODE solver (1 for ping-pong/γ-sampling: consistency-style).
    ``stochastic``: it may draw noise (then a ``generator`` is required; for ``ctm_gamma`` only
    when γ > 0). ``nfe_fn(steps)``: denoiser evaluations per sample for ``steps`` intervals,
    not counting classifier-free guidance (which doubles it, see ``guidance.classifier_free``).
    """

    name: str
    fn: Callable[..., Tensor]
    order: int
    stochastic: bool
    nfe_fn: Callable[[int], int]
    description: str

    @property
    def options(self) -> tuple[str, ...]:
        """Names of the keyword-only options ``fn`` accepts (``generator`` excluded)."""
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "generator")

    def nfe(self, steps: int) -> int:
        """Denoiser evaluations per sample for ``steps`` intervals (CFG not counted)."""
        return self.nfe_fn(check_steps(steps))

    def _check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(self.options) if self.options else "none"
            raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for sampler "
                             f"{self.name!r}; allowed options: {allowed}")

    def __call__(self, denoise: Denoiser, x: Tensor, sigmas: Tensor, *,
                 generator: torch.Generator | None = None, **options: Any) -> Tensor:
        """Validate the inputs, then run ``fn``; returns the sample at σ = 0."""
        self._check_options(options)
        validate_start(x)
        validate_grid(sigmas)
        grid = as_grid(sigmas, x)
        validate_grid(grid)  # again in x's dtype: a float32 cast can merge close levels
        if "generator" in inspect.signature(self.fn).parameters:
            options["generator"] = generator
        return self.fn(denoise, x, grid, **options)
