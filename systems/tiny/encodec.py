"""A tiny ``EncodecModel`` (EnCodec's architecture) with random weights.

The released class at a toy size (13k parameters), initialised from a fixed seed: 24 kHz mono and
unchunked like ``facebook/encodec_24khz``, but a hop of 32 samples (750-Hz frames) and codebooks
of 16 random entries (4 bits), so one codebook costs 750 · 4 = 3 kbps and the target bandwidths 3, 6 and
12 kbps use 1, 2 and 4 codebooks. Its audio is noise: it tests the plumbing offline, nothing more.
"""
from __future__ import annotations

from typing import Any

from systems.hf_models import package_version

SEED = 0
CONFIG: dict[str, Any] = {
    "target_bandwidths": [3.0, 6.0, 12.0], "sampling_rate": 24000, "audio_channels": 1, "normalize": False,
    "hidden_size": 16, "num_filters": 4, "num_residual_layers": 1, "upsampling_ratios": [8, 4],
    "num_lstm_layers": 1, "codebook_size": 16,
}


def build(**overrides: Any) -> Any:
    """The tiny model, eval mode; ``overrides`` change :data:`CONFIG` fields (the tests build a
    chunked, normalising stereo variant like ``facebook/encodec_48khz`` this way)."""
    import torch
    from transformers import EncodecConfig, EncodecModel

    with torch.random.fork_rng(devices=[]):  # a fixed seed without touching the caller's RNG
        torch.manual_seed(SEED)
        model = EncodecModel(EncodecConfig(**{**CONFIG, **overrides})).eval()
        # transformers initialises the codebooks to zeros (training fills them by k-means): every
        # code would be 0 whatever the audio, so the tiny build draws them at random instead
        for layer in model.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
        return model


def settings() -> dict[str, Any]:
    """What the build depends on (its cache key): the config, the seed and the transformers version."""
    return {"model_class": "EncodecModel", "config": CONFIG, "seed": SEED,
            "transformers": package_version("transformers")}
