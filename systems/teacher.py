"""Baseline system ``teacher``: the shared EDM teacher with any sampler at any step count.

This is "naive step reduction": the same network and sampler with fewer steps. Every other
generator is compared against it at equal NFE. Generation path: MiniLM tokens → initial noise
σ_max·ε from the item's own generator (:mod:`systems.noise`) → sampler over the CFG-wrapped EDM
denoiser (NFE counted by a wrapper) → latent → autoencoder decoder → Griffin-Lim audio.
"""
from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from systems.api import GenRequest, GenResult, SystemInfo, SystemInputError, TextToAudio, check_options
from systems.components.edm import pad_tokens
from systems.components.shared import load_components
from systems.noise import item_generators
from systems.samplers import SAMPLERS, get_sampler
from systems.samplers.grids import make_grid
from systems.samplers.guidance import NFECounter, classifier_free

PRECISIONS = ("fp32", "int8")


class TeacherSystem(TextToAudio):
    info = SystemInfo(
        name="teacher", paper="EDM (Karras et al. 2022) DiT teacher; naive step reduction baseline",
        samplers=tuple(SAMPLERS), default_steps=(1, 2, 4, 8, 16, 32), test_steps=2,
    )

    # What a request naming none gets (None: the preset's sampling settings); subclasses set them.
    default_sampler: str | None = None
    default_guidance: float | None = None

    def __init__(self, preset: Any = "tiny", sampler: str | None = None, guidance: float | None = None,
                 grid: str | None = None, components=None, train_missing: bool = True,
                 precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise SystemInputError(f"precision must be one of {PRECISIONS}, got {precision!r} ('int8': "
                                   "dynamic int8 quantisation of the network's linear layers, CPU only)")
        self.precision = precision
        self.preset_name = preset if isinstance(preset, str) else preset.name
        self._preset = preset
        self.components = components
        self.train_missing = train_missing
        self._sampler, self._guidance, self._grid = sampler, guidance, grid
        if components is not None:
            self._bind(components)

    @classmethod
    def from_components(cls, components, **config) -> TeacherSystem:
        return cls(preset=components.preset, components=components, **config)

    def load(self, device: str = "cpu") -> TeacherSystem:
        if self.components is None:
            self._bind(load_components(self._preset, device, train_missing=self.train_missing))
        return self

    def _bind(self, components) -> None:
        self.components = components
        self.denoiser = components.teacher  # the EDM-form network sampled (subclasses swap it)
        sampling = components.preset.sampling
        self.sampler = self._sampler or self.default_sampler or sampling["sampler"]
        default_guidance = sampling["guidance"] if self.default_guidance is None else self.default_guidance
        self.guidance = default_guidance if self._guidance is None else self._guidance
        self.grid = self._grid or sampling["grid"]
        self.sample_rate = components.ae.sample_rate
        get_sampler(self.sampler)  # an unknown name fails at construction, not mid-run

    def quantized_int8(self) -> TeacherSystem:
        """A copy whose network has dynamically int8-quantised linear layers (CPU only)."""
        import copy

        self._require_loaded()
        if self.precision == "int8":
            return self
        clone = copy.copy(self)
        clone.precision, clone._int8 = "int8", None
        return clone

    def sampling_network(self):
        """The network the sampler calls: ``denoiser``, or its dynamic-int8 copy (made once per
        denoiser) when ``precision == "int8"`` (``torch.ao.quantization.quantize_dynamic`` on every
        ``nn.Linear``; activations stay fp32)."""
        if self.precision == "fp32":
            return self.denoiser
        cached = getattr(self, "_int8", None)
        if cached is None or cached[0] is not self.denoiser:
            self._require_cpu()
            net = torch.ao.quantization.quantize_dynamic(copy.deepcopy(self.denoiser).cpu(), {nn.Linear},
                                                         dtype=torch.qint8)
            self._int8 = cached = (self.denoiser, net)
        return cached[1]

    def _require_cpu(self) -> None:
        if self.components.device.type != "cpu":
            raise SystemInputError("precision 'int8' (dynamic quantisation) runs on the CPU only; load the "
                                   "system with device 'cpu' or use precision 'fp32'")

    def config(self) -> dict[str, Any]:
        self._require_loaded()
        extra = {"precision": self.precision} if self.precision != "fp32" else {}   # fp32 keys unchanged
        return {**super().config(), "sampler": self.sampler, "guidance": self.guidance, "grid": self.grid,
                **extra, **self.components.config()}

    def _require_loaded(self) -> None:
        if self.components is None:
            raise RuntimeError("call .load(device) before generating")

    def generate(self, request: GenRequest) -> GenResult:
        self._require_loaded()
        sampler = get_sampler(self.sampler_of(request))
        self.check_request_options(request, sampler)
        guidance = self.guidance_of(request)
        timings: dict[str, float] = {}
        with _timer(timings, "encode_text_s"):
            cond, null = self._conditions(request.prompts)
        with _timer(timings, "denoise_s"):
            z, nfe = self._sample(sampler, request, cond, null, guidance)
        with _timer(timings, "decode_s"):
            audio = self._decode(z, request.duration_s)
        return GenResult(audio, self.sample_rate, nfe, latents=z.cpu(), timings_s=timings)

    def check_request_options(self, request: GenRequest, sampler) -> None:
        """Refuse request options the sampler does not take (a system whose generation options are
        its own, not its sampler's, overrides this)."""
        check_options(request.options, sampler.options, f"sampler {sampler.name!r}")

    def _conditions(self, prompts):
        text = self.components.text
        tokens, mask = text.encode(prompts)
        null_tokens, null_mask = text.null(len(prompts))
        length = max(tokens.shape[1], null_tokens.shape[1])
        cond = dict(zip(("tokens", "mask"), pad_tokens(tokens, mask, length)))
        null = dict(zip(("tokens", "mask"), pad_tokens(null_tokens, null_mask, length)))
        return cond, null

    def latent_shape(self, duration_s: float | None) -> tuple[int, int]:
        """(channels, frames) for a clip of ``duration_s`` (default: the preset's clip length)."""
        preset, ae = self.components.preset, self.components.ae
        frames = ae.frames_for(duration_s or preset.clip_duration_s)
        patch = preset.teacher.patch
        return ae.latent_channels, -(-frames // patch) * patch

    def noise_grid(self, steps: int):
        """The σ grid of ``steps`` intervals (``steps + 1`` levels ending at 0)."""
        sampling = self.components.preset.sampling
        extra = {"rho": sampling["rho"]} if self.grid == "karras" else {}
        return make_grid(self.grid, steps, sigma_min=sampling["sigma_min"], sigma_max=sampling["sigma_max"],
                         **extra)

    @torch.inference_mode()
    def sample_latents(self, request: GenRequest) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(ε, latents, NFE per sample) of ``request`` without decoding: what pair caches store."""
        self._require_loaded()
        sampler = get_sampler(self.sampler_of(request))
        cond, null = self._conditions(request.prompts)
        z, nfe = self._sample(sampler, request, cond, null, self.guidance_of(request))
        return self.initial_noise(request), z, nfe

    @torch.inference_mode()
    def _sample(self, sampler, request: GenRequest, cond, null, guidance: float):
        grid = self.noise_grid(request.steps)
        eps = self.initial_noise(request).to(self.components.device)
        counter = NFECounter()
        denoise = classifier_free(self.sampling_network(), cond, null, guidance, counter=counter)
        generators = item_generators(request.prompts, request.seeds, stream="sampler")
        z = sampler(denoise, float(grid[0]) * eps, grid, generator=generators, **request.options)
        return z, counter.count

    def _decode(self, z: torch.Tensor, duration_s: float | None) -> np.ndarray:
        n = round((duration_s or self.components.preset.clip_duration_s) * self.sample_rate)
        audio = self.components.ae.decode(z)[:, :n]
        if not torch.isfinite(audio).all():
            raise RuntimeError("the teacher produced non-finite audio; its checkpoint is likely broken: "
                               "delete it from the component store and retrain")
        return audio.cpu().numpy().astype(np.float32)


class _timer:
    def __init__(self, sink: dict[str, float], key: str) -> None:
        self.sink, self.key = sink, key

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.sink[self.key] = time.perf_counter() - self.start
