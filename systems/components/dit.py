"""A small diffusion transformer (DiT) over latent frames, attending to text tokens.

Each block: adaLN-Zero modulated self-attention (Peebles & Xie 2023), cross-attention to the
projected text tokens with a key-padding mask, and an adaLN-Zero modulated MLP. The global
conditioning vector is an MLP of Fourier features of the EDM noise input c_noise plus a projection
of the mean-pooled text. Positions are sinusoidal and computed per length, so any duration works.
``forward(..., return_features=True)`` also returns every block's output [B, F, width]: SoundCTM's
feature distance and ARC's discriminator head read them. Extra keyword conditioning (e.g. the CFG
scale of :class:`~systems.components.guided_dit.GuidedDiT`) is passed through ``forward`` and
``trunk`` to ``conditioning``; the teacher's DiT takes none and refuses any, so a condition meant
for a guided student can never be silently ignored by the teacher.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DiTConfig:
    in_channels: int = 16
    width: int = 128
    depth: int = 4
    heads: int = 4
    text_dim: int = 384
    mlp_ratio: float = 4.0
    fourier_dim: int = 64
    patch: int = 1  # latent frames per token (DiT patchify); frame counts must be a multiple

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoidal features [N, dim] of real-valued positions (Vaswani et al. §3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device) / half)
    angles = positions.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(kv_dim or width, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, context: torch.Tensor, key_mask: torch.Tensor | None = None):
        b, n, w = x.shape
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, w))


class DiTBlock(nn.Module):
    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        w = cfg.width
        self.norm1 = nn.LayerNorm(w, elementwise_affine=False)
        self.self_attn = Attention(w, cfg.heads)
        self.norm2 = nn.LayerNorm(w)
        self.cross_attn = Attention(w, cfg.heads, kv_dim=w)
        self.norm3 = nn.LayerNorm(w, elementwise_affine=False)
        hidden = int(w * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, w))
        self.modulation = nn.Linear(w, 6 * w)
        nn.init.zeros_(self.modulation.weight)  # adaLN-Zero: every block starts as the identity
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x, c, text, text_mask):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(c))[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.self_attn(h, h)
        x = x + self.cross_attn(self.norm2(x), text, text_mask)
        h = self.norm3(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class DiT(nn.Module):
    """F(x_in [B, C, F], c_noise [B], tokens [B, L, D], mask [B, L]) -> [B, C, F]."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        w = cfg.width
        self.cfg = cfg
        self.inp = nn.Linear(cfg.in_channels * cfg.patch, w)
        self.time_mlp = nn.Sequential(nn.Linear(cfg.fourier_dim, w), nn.SiLU(), nn.Linear(w, w))
        self.text_proj = nn.Linear(cfg.text_dim, w)
        self.pooled_proj = nn.Linear(cfg.text_dim, w)
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(w, elementwise_affine=False)
        self.final_mod = nn.Linear(w, 2 * w)
        self.out = nn.Linear(w, cfg.in_channels * cfg.patch)
        for layer in (self.final_mod, self.out):  # the network starts by predicting 0
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def conditioning(self, c_noise, tokens, mask, **extra):
        """Global vector [B, W] and projected text [B, L, W]; ``extra`` is refused (see the module)."""
        if extra:
            raise TypeError(f"{type(self).__name__} takes no extra conditioning, got {sorted(extra)}; a "
                            "CFG-aware student needs systems.components.guided_dit.GuidedDiT")
        weights = mask.float()[..., None]
        pooled = (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        c = self.time_mlp(sinusoid(c_noise * 1000.0, self.cfg.fourier_dim)) + self.pooled_proj(pooled)
        return c, self.text_proj(tokens)

    def trunk(self, x, c_noise, tokens, mask, depth: int, **extra) -> torch.Tensor:
        """Hidden states [B, F/patch, width] after the first ``depth`` blocks (ARC's discriminator)."""
        c, text = self.conditioning(c_noise, tokens, mask, **extra)
        b, channels, frames = x.shape
        tokens_in = x.transpose(1, 2).reshape(b, frames // self.cfg.patch, channels * self.cfg.patch)
        positions = torch.arange(tokens_in.shape[1], device=x.device)
        h = self.inp(tokens_in) + sinusoid(positions, self.cfg.width)[None]
        for block in self.blocks[:depth]:
            h = block(h, c, text, mask)
        return h

    def forward(self, x, c_noise, tokens, mask, return_features: bool = False, **extra):
        c, text = self.conditioning(c_noise, tokens, mask, **extra)
        b, channels, frames = x.shape
        if frames % self.cfg.patch:
            raise ValueError(f"{frames} latent frames is not a multiple of the patch size {self.cfg.patch}")
        tokens_in = x.transpose(1, 2).reshape(b, frames // self.cfg.patch, channels * self.cfg.patch)
        positions = torch.arange(tokens_in.shape[1], device=x.device)
        h = self.inp(tokens_in) + sinusoid(positions, self.cfg.width)[None]
        features = []
        for block in self.blocks:
            h = block(h, c, text, mask)
            features.append(h)
        shift, scale = self.final_mod(F.silu(c))[:, None].chunk(2, dim=-1)
        y = self.out(self.final_norm(h) * (1 + scale) + shift).reshape(b, frames, channels).transpose(1, 2)
        return (y, features) if return_features else y
