"""``audioldm``: AudioLDM (Liu et al. 2023) through diffusers' ``AudioLDMPipeline``.

A latent diffusion UNet over the VAE latents of a 64-bin mel spectrogram, conditioned on the
CLAP text embedding, decoded by a HiFi-GAN vocoder at 16 kHz mono. The hub id
``cvssp/audioldm-s-full-v2`` downloads about 1.1 GB (UNet, VAE, CLAP text model, vocoder).
Release defaults: DDIM (η = 0, deterministic), guidance 2.5. Extra ``diffusers``.

Latents: ε [C, H/s, M/s] with C the UNet's input channels, M the vocoder's mel bins, s the VAE's
scale factor and H = ⌊duration / hop_s⌋ mel frames rounded up to a multiple of s (hop_s = the
vocoder's upsampling over its rate; 10 ms), exactly the shape the pipeline draws. Samplers: the
release's DDIM, or DPM-Solver++, Euler or Heun made from the model's scheduler config (Heun: two
UNet calls per step, counted in NFE). See :mod:`systems.diffusers_t2a` for the conventions.
"""
from __future__ import annotations

import math
from typing import Any

from systems.api import SystemInfo
from systems.diffusers_t2a import DiffusersTextToAudio
from systems.tiny import audioldm as tiny_audioldm

SCHEDULERS = {"ddim": "DDIMScheduler", "dpmsolver++": "DPMSolverMultistepScheduler",
              "euler": "EulerDiscreteScheduler", "heun": "HeunDiscreteScheduler"}


class AudioLDM(DiffusersTextToAudio):
    info = SystemInfo(name="audioldm", paper="AudioLDM (Liu et al. 2023), diffusers AudioLDMPipeline",
                      samplers=tuple(SCHEDULERS), default_steps=(10, 25, 50, 100, 200), test_steps=2)
    pipeline_class = "AudioLDMPipeline"
    default_model = "cvssp/audioldm-s-full-v2"
    downloads = "about 1.1 GB"
    default_duration_s = 10.0
    denoiser_attr = "unet"
    schedulers = SCHEDULERS
    tiny_builder = tiny_audioldm
    release_guidance = 2.5

    def native_sample_rate(self) -> int:
        return int(self.pipe.vocoder.config.sampling_rate)

    def latent_shape(self, duration_s: float | None) -> tuple[int, int, int]:
        """(channels, frames / s, mel bins / s), as the pipeline's ``prepare_latents``."""
        self._require_loaded()
        vocoder, scale = self.pipe.vocoder.config, self.pipe.vae_scale_factor
        hop_s = math.prod(vocoder.upsample_rates) / vocoder.sampling_rate
        frames = int((duration_s or self.clip_duration_s) / hop_s)
        frames = -(-frames // scale) * scale
        return int(self.pipe.unet.config.in_channels), frames // scale, int(vocoder.model_in_dim) // scale

    def other_networks(self) -> list[str]:
        return ["CLAP text encoder", "VAE decoder", "HiFi-GAN vocoder"]

    def call_pipeline(self, prompts, latents, generators, guidance, steps, duration_s) -> Any:
        return self.pipe(prompt=prompts, audio_length_in_s=duration_s, num_inference_steps=steps,
                         guidance_scale=guidance, generator=generators, latents=latents,
                         output_type="np").audios
