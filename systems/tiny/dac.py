"""A tiny ``DacModel`` (the Descript Audio Codec's architecture) with random weights.

The released class at a toy size (24k parameters), initialised from a fixed seed: 16 kHz like
``descript/dac_16khz``, but a hop of 8 samples (2 kHz frames), 3 codebooks of 16 entries (4 bits).
Its audio is noise: it tests the plumbing (rates, payload bits, save/load) offline, nothing more.
"""
from __future__ import annotations

from typing import Any

from systems.hf_models import package_version

SEED = 0
# encoder_hidden_size · 2**len(downsampling_ratios) must equal hidden_size (the encoder's output width)
CONFIG: dict[str, Any] = {
    "encoder_hidden_size": 8, "downsampling_ratios": [2, 4], "decoder_hidden_size": 16, "n_codebooks": 3,
    "codebook_size": 16, "codebook_dim": 4, "hidden_size": 32, "sampling_rate": 16000,
}


def build(**overrides: Any) -> Any:
    """The tiny model, eval mode; ``overrides`` change :data:`CONFIG` fields (tests only)."""
    import torch
    from transformers import DacConfig, DacModel

    with torch.random.fork_rng(devices=[]):  # a fixed seed without touching the caller's RNG
        torch.manual_seed(SEED)
        return DacModel(DacConfig(**{**CONFIG, **overrides})).eval()


def settings() -> dict[str, Any]:
    """What the build depends on (its cache key): the config, the seed and the transformers version."""
    return {"model_class": "DacModel", "config": CONFIG, "seed": SEED,
            "transformers": package_version("transformers")}
