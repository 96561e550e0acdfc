"""EDM form of the teacher (Karras et al. 2022): preconditioning, training loss, CFG dropout.

``D(x, σ, c) = c_skip(σ) x + c_out(σ) F(c_in(σ) x, c_noise(σ), c)`` with
c_skip = σd²/(σ²+σd²), c_out = σ σd/√(σ²+σd²), c_in = 1/√(σ²+σd²), c_noise = ¼ ln σ
(Karras et al. 2022, Table 1). Training draws ln σ ~ N(P_mean, P_std²) and weights the squared
error by λ(σ) = (σ²+σd²)/(σ σd)² (ibid. eq. 8 and Table 1).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

Cond = Mapping[str, torch.Tensor]  # {"tokens": [B, L, D], "mask": [B, L] bool, optional extras}
TEXT_KEYS = ("tokens", "mask")     # the text condition; any other key goes to the net as a keyword


def edm_coefficients(sigma: torch.Tensor, sigma_data: float):
    """(c_skip, c_out, c_in, c_noise) for per-sample σ [B]."""
    total = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / total
    c_out = sigma * sigma_data / total.sqrt()
    c_in = 1.0 / total.sqrt()
    c_noise = sigma.log() / 4.0
    return c_skip, c_out, c_in, c_noise


class EDMDenoiser(nn.Module):
    """``denoiser(x [B, C, F], sigma [B], cond) -> x0 estimate`` around a DiT network.

    ``cond`` keys other than "tokens"/"mask" (e.g. a CFG-aware student's per-sample "guidance"
    [B]) reach the network as keywords; the teacher's cond has none, so its calls are unchanged.
    """

    def __init__(self, net: nn.Module, sigma_data: float = 0.5) -> None:
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: Cond) -> torch.Tensor:
        return self._run(x, sigma, cond, features=False)

    def features(self, x: torch.Tensor, sigma: torch.Tensor, cond: Cond, layers=None) -> list[torch.Tensor]:
        """Per-block hidden states [B, F, width] (all blocks, or the indices in ``layers``)."""
        _, feats = self._run(x, sigma, cond, features=True)
        return feats if layers is None else [feats[i] for i in layers]

    def _run(self, x, sigma, cond, features: bool):
        sigma = sigma.to(x.dtype).reshape(-1)
        c_skip, c_out, c_in, c_noise = (c.view(-1, 1, 1) for c in edm_coefficients(sigma, self.sigma_data))
        extra = {key: value for key, value in cond.items() if key not in TEXT_KEYS}
        out = self.net(c_in * x, c_noise.view(-1), cond["tokens"], cond["mask"], return_features=features,
                       **extra)
        f, feats = out if features else (out, None)
        denoised = c_skip * x + c_out * f
        return (denoised, feats) if features else denoised


def edm_loss(
    denoiser: EDMDenoiser, x0: torch.Tensor, cond: Cond, generator: torch.Generator,
    p_mean: float = -1.2, p_std: float = 1.2,
) -> torch.Tensor:
    """Mean over the batch of λ(σ)‖D(x0 + σε, σ) − x0‖² / numel, ln σ ~ N(P_mean, P_std²)."""
    b = x0.shape[0]
    sigma = (torch.randn(b, generator=generator) * p_std + p_mean).exp().to(x0)
    eps = torch.randn(x0.shape, generator=generator).to(x0)
    sd = denoiser.sigma_data
    weight = (sigma**2 + sd**2) / (sigma * sd) ** 2
    err = (denoiser(x0 + sigma.view(-1, 1, 1) * eps, sigma, cond) - x0) ** 2
    return (weight * err.mean(dim=(1, 2))).mean()


def pad_tokens(tokens: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad a token batch to ``length`` (padding is masked out)."""
    extra = length - tokens.shape[1]
    if extra <= 0:
        return tokens, mask
    tokens = torch.cat([tokens, tokens.new_zeros(tokens.shape[0], extra, tokens.shape[2])], dim=1)
    return tokens, torch.cat([mask, mask.new_zeros(mask.shape[0], extra)], dim=1)


def drop_condition(cond: Cond, null: Cond, drop: torch.Tensor) -> dict[str, torch.Tensor]:
    """CFG dropout: rows where ``drop`` is True get the null condition (same convention as inference)."""
    length = max(cond["tokens"].shape[1], null["tokens"].shape[1])
    tokens, mask = pad_tokens(cond["tokens"], cond["mask"], length)
    null_tokens, null_mask = pad_tokens(null["tokens"], null["mask"], length)
    keep = ~drop
    return {
        "tokens": torch.where(keep[:, None, None], tokens, null_tokens),
        "mask": torch.where(keep[:, None], mask, null_mask),
    }
