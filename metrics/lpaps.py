"""LPAPS: learned-perceptual audio patch similarity on a network's layers; lower is better.

As HilaManor/AudioEditingCode ``evals/lpaps.py`` (LPIPS without learned weights): for each
layer l with features f [tokens, channels]

- ``normalize_tensor``: ``f̂ = f / (sqrt(Σ_tokens f²) + 1e-10)``, i.e. over dim 1 of
  [B, tokens, C] = the TOKEN axis (LPIPS normalises channels per position instead);
- ``d_l = mean_c Σ_n (f̂⁰[n, c] − f̂¹[n, c])²`` (``.sum(dim=1)`` then ``spatial_average``);

``LPAPS = Σ_l d_l`` (each term in [0, 4]). The network is the backend's: ``lpaps@clap-laion-music``
(the 4 HTSAT Swin stages) is CLAP-LPAPS, the published metric; ``lpaps@aisfx`` (the aisfx CNN's 4
conv blocks, offline) is the same recipe on another network, with its own scale, and is reported
as ``lpaps@aisfx``, never as CLAP-LPAPS; ``lpaps@mel`` is for plumbing tests only.
Generated (edited) and reference (source) clips are paired by id, one score per pair.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from metrics.base import MetricInfo, MetricInputError
from metrics.si_sdr import PairedMetric

NORM_EPS = 1e-10


def normalize_tokens(f: np.ndarray) -> np.ndarray:
    """f [tokens, channels] divided by its per-channel L2 norm over tokens (+1e-10)."""
    return f / (np.sqrt(np.sum(f**2, axis=0, keepdims=True)) + NORM_EPS)


def lpaps_layer(a: np.ndarray, b: np.ndarray) -> float:
    """One layer's distance: mean over channels of Σ_tokens (â − b̂)²; a, b [tokens, channels]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise MetricInputError(f"LPAPS: layer shapes {a.shape} vs {b.shape}; expected equal "
                               "[tokens, channels] (same backend and clip length for both)")
    return float(np.sum((normalize_tokens(a) - normalize_tokens(b)) ** 2, axis=0).mean())


def lpaps(layers_a: Sequence[np.ndarray], layers_b: Sequence[np.ndarray]) -> float:
    """Σ over layers of ``lpaps_layer``; layers_a/b: lists of [tokens, channels]."""
    if len(layers_a) != len(layers_b) or not len(layers_a):
        raise MetricInputError(f"LPAPS: {len(layers_a)} vs {len(layers_b)} layers; both clips "
                               "need the same non-empty list of layers from one backend")
    return float(sum(lpaps_layer(a, b) for a, b in zip(layers_a, layers_b)))


class Lpaps(PairedMetric):
    """LPAPS between each generated clip and the reference with the same id (``lpaps@backend``)."""

    field = "layers"
    info = MetricInfo(
        "lpaps", higher_is_better=False, kind="paired", needs=("layers",),
        description="LPAPS (AudioEditingCode): token-axis normalised layers, uniform weights",
        domain=(0.0, np.inf),
    )
    options: dict = {}

    def pair_score(self, gen, ref, sample_rate: int | None) -> float:
        if any(not np.isfinite(np.asarray(f, np.float64)).all() for f in [*gen, *ref]):
            raise MetricInputError("LPAPS: layer features contain NaN or Inf")
        return lpaps(gen, ref)
