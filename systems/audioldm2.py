"""``audioldm2``: AudioLDM 2 (Liu et al. 2024) through diffusers' ``AudioLDM2Pipeline``.

Text → CLAP and Flan-T5 embeddings → a GPT-2 that generates ``max_new_tokens`` (8 in the
release) "language of audio" vectors, greedily (deterministic) → a UNet with two cross-attention
streams over the VAE latents of a 64-bin mel spectrogram → HiFi-GAN vocoder at 16 kHz mono. The hub
id ``cvssp/audioldm2`` downloads about 2.5 GB. Release defaults: DDIM (η = 0), 200 steps,
guidance 3.5. Extra ``diffusers``.

Batches: the pipeline pads the Flan-T5 tokens (and the empty unconditional text) to the longest
prompt of the batch, and GPT-2's positions count that padding, so a prompt's audio would depend
on the other prompts of its batch. The adapter therefore calls the pipeline once per group of
prompts with equal Flan-T5 token counts (no padding, so each clip equals its batch-of-one
result); a batch of different lengths costs several calls (speed rows measure that).

NFE counts the UNet; GPT-2's ``max_new_tokens`` forward passes per clip are listed in
``config()`` (``language_model_new_tokens``) instead, since they are another network. One
waveform per prompt (``num_waveforms_per_prompt > 1`` would add CLAP re-ranking). Latent shape and
samplers as :mod:`systems.audioldm`.
"""
from __future__ import annotations

from typing import Any

from systems.api import SystemInfo
from systems.audioldm import SCHEDULERS, AudioLDM
from systems.tiny import audioldm2 as tiny_audioldm2


class AudioLDM2(AudioLDM):
    info = SystemInfo(name="audioldm2", paper="AudioLDM 2 (Liu et al. 2024), diffusers AudioLDM2Pipeline",
                      samplers=tuple(SCHEDULERS), default_steps=(10, 25, 50, 100, 200), test_steps=2)
    pipeline_class = "AudioLDM2Pipeline"
    default_model = "cvssp/audioldm2"
    downloads = "about 2.5 GB"
    tokenizer_attrs = ("tokenizer", "tokenizer_2")
    tiny_builder = tiny_audioldm2
    release_guidance = 3.5

    def call_pipeline(self, prompts, latents, generators, guidance, steps, duration_s) -> Any:
        """One pipeline call per group of equal Flan-T5 length (module docstring), reassembled in order."""
        import numpy as np

        groups: dict[int, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(len(self.pipe.tokenizer_2(prompt).input_ids), []).append(i)
        audio = [None] * len(prompts)
        for index in groups.values():
            out = super().call_pipeline([prompts[i] for i in index], latents[index],
                                        [generators[i] for i in index], guidance, steps, duration_s)
            for row, i in zip(out, index):
                audio[i] = row
        return np.stack(audio)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "language_model_new_tokens": self.new_tokens(),
                "batching": "one pipeline call per group of equal Flan-T5 token counts"}

    def new_tokens(self) -> int:
        """GPT-2 forward passes per clip (the pipeline's default ``max_new_tokens``)."""
        return int(self.pipe.language_model.config.max_new_tokens)

    def other_networks(self) -> list[str]:
        return ["CLAP text encoder", "Flan-T5 encoder", "projection",
                "GPT-2 (language_model_new_tokens passes)", "VAE decoder", "HiFi-GAN vocoder"]
