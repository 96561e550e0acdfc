"""Classifier-free guidance (Ho & Salimans 2022) as an EDM denoiser, and NFE counting.

``classifier_free(model, cond, null_cond, w)`` turns a conditional network
``model(x, sigma, cond) -> D`` into a plain denoiser ``D_w(x, σ)`` that the samplers take:
``D_w = D_∅ + w·(D_c − D_∅)``. Convention: **w = 1 is no guidance** (only the conditional branch
runs), w = 0 is unconditional (only the null branch runs), w > 1 extrapolates; w < 0 is
refused. This combination is valid for the EDM denoiser because it is linear in the network
output (ε-, v- and x0-predictions combine identically).

When every tensor of ``cond`` and ``null_cond`` has the same shape (and batch size B), both
branches run in ONE call on a doubled batch ``[2B, ...]``; otherwise (e.g. a null prompt with a
different token length L) the model is called twice.

NFE accounting (``NFECounter``) is **per sample**: one network call on a batch of B counts as one
evaluation, whatever B is. A guided evaluation costs 2 (both branches, batched or not), an
unguided one 1; so Heun with N steps costs 2N − 1 evaluations, or 2(2N − 1) with guidance.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import Tensor

from systems.api import check_guidance
from systems.samplers.base import Denoiser

#: ``model(x [B, ...], sigma [B], cond) -> D`` with ``cond`` a dict of batch-first tensors
CondModel = Callable[[Tensor, Tensor, Mapping[str, Tensor]], Tensor]


class NFECounter:
    """Counts network evaluations per sample (one call on a batch counts once; CFG counts 2)."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, evaluations: int = 1) -> None:
        """Record ``evaluations`` network evaluations per sample."""
        self.count += evaluations

    def reset(self) -> None:
        self.count = 0

    def wrap(self, fn: Callable[..., Tensor], per_call: int = 1) -> Callable[..., Tensor]:
        """``fn`` that adds ``per_call`` (default 1) to the count each time it is called."""
        def counted(*args, **kwargs) -> Tensor:
            self.add(per_call)
            return fn(*args, **kwargs)
        return counted

    def __repr__(self) -> str:
        return f"NFECounter(count={self.count})"


def can_batch(cond: Mapping[str, Tensor], null_cond: Mapping[str, Tensor], batch: int) -> bool:
    """True when both branches can share one call: same keys, tensors of equal shapes, batch B."""
    if set(cond) != set(null_cond):
        return False
    for key, value in cond.items():
        other = null_cond[key]
        if not (isinstance(value, Tensor) and isinstance(other, Tensor)):
            return False
        if value.shape != other.shape or value.ndim == 0 or value.shape[0] != batch:
            return False
    return True


def _both_branches(model: CondModel, x: Tensor, sigma: Tensor, cond: Mapping[str, Tensor],
                   null_cond: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """(D_c, D_∅): one call on the doubled batch when possible, else two calls."""
    if not can_batch(cond, null_cond, x.shape[0]):
        return model(x, sigma, cond), model(x, sigma, null_cond)
    both = {key: torch.cat([cond[key], null_cond[key]]) for key in cond}
    out = model(torch.cat([x, x]), torch.cat([sigma, sigma]), both)
    return out[: x.shape[0]], out[x.shape[0]:]


def classifier_free(model: CondModel, cond: Mapping[str, Tensor], null_cond: Mapping[str, Tensor],
                    guidance: float, *, counter: NFECounter | None = None) -> Denoiser:
    """The guided denoiser ``D_w(x, σ) = D_∅ + w·(D_c − D_∅)`` (w = 1: only the conditional call).

    ``counter`` (optional) gets 2 per guided evaluation and 1 per unguided one (per sample).
    """
    w = check_guidance(guidance)
    record = counter.add if counter is not None else (lambda evaluations: None)

    def denoise(x: Tensor, sigma: Tensor) -> Tensor:
        if w == 1.0 or w == 0.0:
            record(1)
            return model(x, sigma, cond if w == 1.0 else null_cond)
        record(2)
        d_cond, d_null = _both_branches(model, x, sigma, cond, null_cond)
        return d_null + w * (d_cond - d_null)  # Ho & Salimans 2022, eq. 6 with w ↦ w − 1

    return denoise
