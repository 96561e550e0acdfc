"""Item-owned randomness: one generator per (prompt, seed), shared by every system.

Systems draw their initial noise ε ~ N(0, I) here and scale it for their family (σ_max·ε for
EDM, ε for rectified flow at t = 1), so two systems given the same prompt and seed start from
the same ε, and a clip never depends on which other items share its batch.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import torch


def item_seed(prompt: str, seed: int, stream: str = "init") -> int:
    """A 63-bit seed from (prompt, seed, stream); ``stream`` separates independent draws."""
    digest = hashlib.sha256(f"{stream}\x00{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def item_generators(prompts: Sequence[str], seeds: Sequence[int],
                    stream: str = "init") -> list[torch.Generator]:
    """One CPU generator per item."""
    return [torch.Generator().manual_seed(item_seed(p, s, stream)) for p, s in zip(prompts, seeds)]


def initial_noise(
    prompts: Sequence[str], seeds: Sequence[int], shape: Sequence[int],
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """ε [B, *shape]: item i drawn from its own generator in float32 on CPU, then moved."""
    gens = item_generators(prompts, seeds)
    eps = torch.stack([torch.randn(tuple(shape), generator=g) for g in gens])
    return eps.to(device=device, dtype=dtype)


def randn_like_items(x: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Noise shaped like ``x`` with row i from ``generators[i]`` (batch-size independent)."""
    if len(generators) != x.shape[0]:
        raise ValueError(f"{len(generators)} generators for a batch of {x.shape[0]}")
    rows = [torch.randn(tuple(x.shape[1:]), generator=g) for g in generators]
    return torch.stack(rows).to(device=x.device, dtype=x.dtype)
