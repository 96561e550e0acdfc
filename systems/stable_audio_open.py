"""``stable-audio-open``: Stable Audio Open 1.0 (Evans et al. 2024), diffusers' ``StableAudioPipeline``.

The base model ARC (Novack et al. 2025) post-trains. A DiT over the latents of a 44.1-kHz stereo
Oobleck VAE (``transformer.config.sample_size`` = 1024 latent frames, at most 47.55 s), T5-base
text conditioning plus start/end-second conditioning. The hub id ``stabilityai/stable-audio-open-1.0``
is gated (accept the licence on the hub, then ``hf auth login``) and downloads about 5 GB (the
fp32 transformer, VAE and T5-base). Defaults of the release's example: 200 steps of the cosine
DPM-Solver++ (SDE) scheduler, guidance 7. Extra ``diffusers``.

Latents: ε [64, 1024] (channels, frames) whatever the duration: the pipeline always denoises the
whole 47-s window and cuts ``[0, duration_s]`` from the decoded audio, so the cost does not fall
with shorter clips. The scheduler is stochastic (SDE): its per-step noise comes from the items'
``"scheduler"`` generators. Output: stereo, down-mixed to mono (mean of L and R) at 44.1 kHz.
See :mod:`systems.diffusers_t2a` for NFE, guidance, prompt and noise conventions.
"""
from __future__ import annotations

from typing import Any

from systems.api import SystemInfo, SystemInputError
from systems.diffusers_t2a import DiffusersTextToAudio
from systems.hf_models import package_version
from systems.tiny import stable_audio as tiny_stable_audio


class StableAudioOpen(DiffusersTextToAudio):
    info = SystemInfo(name="stable-audio-open", paper="Stable Audio Open (Evans et al. 2024), diffusers "
                      "StableAudioPipeline; the base model ARC accelerates",
                      samplers=("cosine-dpmsolver++",), default_steps=(8, 25, 50, 100, 200), test_steps=2)
    pipeline_class = "StableAudioPipeline"
    default_model = "stabilityai/stable-audio-open-1.0"
    downloads = "about 5 GB (gated: accept the licence on the hub first)"
    default_duration_s = 10.0
    denoiser_attr = "transformer"
    schedulers = {"cosine-dpmsolver++": "CosineDPMSolverMultistepScheduler"}
    stochastic_samplers = ("cosine-dpmsolver++",)
    tiny_builder = tiny_stable_audio
    release_guidance = 7.0

    def native_sample_rate(self) -> int:
        return int(self.pipe.vae.config.sampling_rate)

    def max_duration_s(self) -> float:
        """The longest clip the DiT's latent window holds."""
        hop = self.pipe.vae.hop_length
        return self.pipe.transformer.config.sample_size * hop / self.pipe.vae.config.sampling_rate

    def latent_shape(self, duration_s: float | None) -> tuple[int, int]:
        """(channels, frames): the whole latent window, whatever ``duration_s`` (module docstring)."""
        self._require_loaded()
        config = self.pipe.transformer.config
        return int(config.in_channels), int(config.sample_size)

    def config(self) -> dict[str, Any]:
        """Adds torchsde's version: the scheduler's Brownian-tree noise comes from it."""
        return {**super().config(), "torchsde": package_version("torchsde")}

    def other_networks(self) -> list[str]:
        return ["T5 text encoder", "duration projection", "Oobleck VAE decoder"]

    def call_pipeline(self, prompts, latents, generators, guidance, steps, duration_s) -> Any:
        if duration_s > self.max_duration_s():
            raise SystemInputError(f"{self.info.name}: duration_s {duration_s} is longer than the model's "
                                   f"window of {self.max_duration_s():.2f} s")
        return self.pipe(prompt=prompts, audio_start_in_s=0.0, audio_end_in_s=duration_s,
                         num_inference_steps=steps, guidance_scale=guidance, generator=generators,
                         latents=latents, output_type="pt").audios
