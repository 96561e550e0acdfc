"""The input checks every codec shares: ``encode`` takes a batch of real, finite mono clips [B, n];
``decode`` takes a payload at the codec's own rate (and no steps, unless the codec decodes in steps).

One policy, so that every codec refuses the same inputs with the same words (issue 12's bad-input
list): stereo or other 3-D arrays (mix down or code each channel as its own clip), a single clip
without the batch axis, empty or too short audio, non-real samples, NaN or Inf (named by clip).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from systems.api import SystemInputError


def check_codec_audio(audio: Any, who: str, *, min_samples: int = 1, too_short: str = "") -> np.ndarray:
    """``audio`` as float32 [B, n] after the checks above; ``who`` names the codec in each message.
    ``min_samples`` (with ``too_short`` saying why, e.g. "one latent frame") refuses shorter clips."""
    x = np.asarray(audio)
    if x.ndim != 2:
        hint = ("mix down with audio.mean(axis=1) or code each channel as its own clip" if x.ndim == 3
                else "add the batch axis to a single clip with audio[None]")
        raise SystemInputError(f"{who}: expected a batch of mono clips [B, n], got shape {x.shape}; {hint}")
    if x.size == 0:
        raise SystemInputError(f"{who}: empty audio (shape {x.shape}); pass at least one non-empty clip")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise SystemInputError(f"{who}: audio must be real float samples, got dtype {x.dtype}")
    if x.shape[1] < min_samples:
        what = too_short or "the minimum"
        raise SystemInputError(f"{who}: audio of shape {x.shape} is shorter than {what} "
                               f"({min_samples} samples)")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise SystemInputError(f"{who}: clips {bad[:10].tolist()} contain NaN or Inf; fix or drop them")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_decode_request(encoded: Any, steps: Any, sample_rate: int, who: str) -> None:
    """Refuse ``steps`` for a codec that decodes in one pass (a codec that decodes in steps checks
    its own and passes None), and a payload coded at another rate."""
    if steps is not None:
        raise SystemInputError(f"{who} decodes without steps; pass steps=None (got {steps!r})")
    if encoded.sample_rate != sample_rate:
        raise SystemInputError(f"{who}: the payload is at {encoded.sample_rate} Hz but this codec works at "
                               f"{sample_rate} Hz; decode it with a codec built for {encoded.sample_rate} Hz")
