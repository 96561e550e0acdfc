"""Released text-to-audio models through diffusers pipelines, behind :class:`~systems.api.TextToAudio`.

One base class for ``stable-audio-open``, ``audioldm2`` and ``audioldm``: a subclass names the
pipeline class, the default hub id, its schedulers, its release defaults and how its latent shape
and duration argument are computed. Weights: see :mod:`systems.hf_models` (hub id, local folder
or ``tiny-random``); extra ``diffusers`` (``pip install -e '.[diffusers]'``).

What the harness's conventions become here:
- **Noise.** ε [B, *latent_shape] is drawn from the items' own generators (:mod:`systems.noise`)
  and passed as ``latents``; the pipeline scales it by its scheduler's ``init_noise_sigma``. So
  items never depend on their batch, and two adapters with one latent shape see the same noise;
  the latent shapes of these pipelines differ from each other's and from the teacher's, so across
  families the noise is equally distributed but not the same numbers. A stochastic scheduler's
  per-step noise comes from a second per-item generator stream (``"scheduler"``).
- **NFE** is counted, not computed: a forward pre-hook on the denoising network adds, per call,
  the rows of its input over the batch size, so a CFG call on [uncond; cond] counts 2 and a
  second-order scheduler's extra evaluation counts too. Other networks (text encoders, AudioLDM
  2's GPT-2, the VAE decoder, the vocoder) run once per clip and are not in NFE; ``config()``
  names them.
- **Guidance.** diffusers pipelines apply CFG only when ``guidance_scale > 1``; 1 = none, as in
  this project, and a scale in [0, 1) (which the pipelines would silently treat as 1) is refused.
- **Prompts** longer than a text encoder's ``model_max_length`` tokens are refused (the pipelines
  would truncate them silently).
- **Audio** is the pipeline's output at its own rate, down-mixed to mono (mean of the channels),
  cut or zero-padded to exactly ``duration_s``, and clipped to [-1, 1].
"""
from __future__ import annotations

import abc
import time
import warnings
from typing import Any, ClassVar, Mapping

import numpy as np

from common.audio_io import pad_to
from systems.api import GenRequest, GenResult, SystemInputError, TextToAudio, check_options
from systems.hf_models import (
    TINY_RANDOM,
    check_model,
    load_pretrained,
    package_version,
    require,
    tiny_model,
    weights_fingerprint,
)
from systems.noise import item_generators

EXTRA = "diffusers"
DEVICE_DTYPES = ("float32", "float16", "bfloat16")


class DiffusersTextToAudio(TextToAudio):
    """A diffusers text-to-audio pipeline as a generator (see the module docstring)."""

    requires = ("diffusers", "transformers")
    test_config = {"model": TINY_RANDOM}
    row_options = ("model",)   # a protocol entry naming another checkpoint (or tiny-random) is its own row
    pipeline_class: ClassVar[str]          # e.g. "StableAudioPipeline"
    default_model: ClassVar[str]           # the released checkpoint's hub id
    downloads: ClassVar[str]               # what a hub id fetches (for the error message)
    default_duration_s: ClassVar[float]    # the release's clip length (standalone use)
    denoiser_attr: ClassVar[str]           # "transformer" or "unet"
    tokenizer_attrs: ClassVar[tuple[str, ...]] = ("tokenizer",)
    schedulers: ClassVar[Mapping[str, str]]  # sampler name -> diffusers scheduler class
    stochastic_samplers: ClassVar[tuple[str, ...]] = ()
    tiny_builder: ClassVar[Any]            # the systems.tiny module of this architecture
    release_guidance: ClassVar[float] = 1.0  # the CFG scale of the release's own examples

    def __init__(self, model: str | None = None, sampler: str | None = None, guidance: float | None = None,
                 duration_s: float | None = None, dtype: str = "float32") -> None:
        self.model = check_model(self.default_model if model is None else model, self.info.name)
        if sampler is not None and sampler not in self.info.samplers:
            raise SystemInputError(f"{self.info.name}: sampler must be one of {list(self.info.samplers)}, "
                                   f"got {sampler!r}")
        self.sampler = sampler or self.info.samplers[0]
        self.guidance = self.release_guidance if guidance is None else self._check_guidance(guidance)
        self.clip_duration_s = float(duration_s or self.default_duration_s)
        if dtype not in DEVICE_DTYPES:
            raise SystemInputError(f"{self.info.name}: dtype must be one of {DEVICE_DTYPES}, got {dtype!r}")
        self.dtype_name, self.pipe, self.device = dtype, None, None

    @classmethod
    def from_components(cls, components: Any, **config: Any) -> DiffusersTextToAudio:
        """On the components' device, with their clip length as the default duration (the protocol's
        clips are then as long as every other system's)."""
        check_options(config, ("model", "sampler", "guidance", "dtype"), cls.info.name)
        system = cls(duration_s=components.preset.clip_duration_s, **config)
        return system.load(str(components.device))

    # ------------------------------------------------------------ loading

    def load(self, device: str = "cpu") -> DiffusersTextToAudio:
        self._check_device_dtype(device)   # before loading gigabytes
        if self.pipe is None:
            self.pipe = self._load_pipeline()
            self._base_scheduler = self.pipe.scheduler.config
            self._scheduler_cache: dict[str, Any] = {}
            self.sample_rate = int(self.native_sample_rate())
            self._hook = getattr(self.pipe, self.denoiser_attr).register_forward_pre_hook(
                self._count_call, with_kwargs=True)
        self.device = device
        self.pipe.to(device)   # the dtype was set at load (diffusers keeps its float32-only modules)
        return self

    def _check_device_dtype(self, device: str) -> None:
        if self.dtype_name != "float32" and not str(device).startswith("cuda"):
            raise SystemInputError(f"{self.info.name}: dtype {self.dtype_name!r} needs a CUDA device (half-"
                                   f"precision kernels are missing or slow on {device!r}); use "
                                   "dtype='float32'")

    def _load_pipeline(self) -> Any:
        diffusers = require("diffusers", EXTRA, self.info.name)
        require("transformers", EXTRA, self.info.name)
        source = self.model
        if source == TINY_RANDOM:
            source = str(tiny_model(self.info.name, self.tiny_builder.build, self.tiny_builder.settings()))
        loader = getattr(diffusers, self.pipeline_class).from_pretrained
        pipe = load_pretrained(loader, source, self.info.name, self.downloads,
                               torch_dtype=self._torch_dtype())
        pipe.set_progress_bar_config(disable=True)
        self.weights_id = weights_fingerprint(self.model, source)
        return pipe

    def _torch_dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype_name)

    @abc.abstractmethod
    def native_sample_rate(self) -> int:
        """The rate of the pipeline's audio (the vocoder's or the VAE's)."""

    def _require_loaded(self) -> None:
        if self.pipe is None:
            raise RuntimeError(f"{self.info.name}: call .load(device) before generating")

    def config(self) -> dict[str, Any]:
        self._require_loaded()
        return {**super().config(), "model": self.model, "weights": self._weights(), **self.weights_id,
                "pipeline": self.pipeline_class, "sampler": self.sampler,
                "clip_duration_s": self.clip_duration_s,
                "scheduler": type(self._scheduler(self.sampler)).__name__, "guidance": self.guidance,
                "dtype": self.dtype_name, "sample_rate": self.sample_rate, "downmix": "mean of channels",
                "other_networks": self.other_networks(), "diffusers": package_version("diffusers"),
                "transformers": package_version("transformers")}

    def _weights(self) -> str:
        return "tiny-random (random weights: tests the plumbing, not a model)" if self.model == TINY_RANDOM \
            else "released"

    def other_networks(self) -> list[str]:
        """Networks that run once per clip besides the denoiser (not counted in NFE)."""
        return ["text encoder", "VAE decoder"]

    # ------------------------------------------------------------ requests

    def _check_guidance(self, guidance: float) -> float:
        if guidance < 1.0:
            raise SystemInputError(
                f"{self.info.name}: diffusers pipelines apply classifier-free guidance only for a scale > 1 "
                f"and treat a scale in [0, 1) as 1 (no guidance); pass guidance >= 1 (got {guidance!r})")
        return float(guidance)

    def check_prompts(self, prompts: tuple[str, ...]) -> None:
        """Refuse a prompt longer than a text encoder takes (the pipeline would truncate it)."""
        for attr in self.tokenizer_attrs:
            tokenizer = getattr(self.pipe, attr)
            limit = tokenizer.model_max_length
            for i, prompt in enumerate(prompts):
                count = len(tokenizer(prompt).input_ids)
                if count > limit:
                    raise SystemInputError(
                        f"{self.info.name}: prompt {i} is too long: {count} tokens for {attr} "
                        f"({type(tokenizer).__name__}), which takes at most {limit}; shorten it")

    def _scheduler(self, name: str) -> Any:
        """The pipeline's scheduler for sampler ``name``, made once from the model's scheduler config."""
        if name not in self._scheduler_cache:
            diffusers = require("diffusers", EXTRA, self.info.name)
            scheduler_cls = getattr(diffusers, self.schedulers[name])
            self._scheduler_cache[name] = scheduler_cls.from_config(self._base_scheduler)
        return self._scheduler_cache[name]

    def generate(self, request: GenRequest) -> GenResult:
        self._require_loaded()
        check_options(request.options, (), self.info.name)
        sampler = self.sampler_of(request)
        guidance = self._check_guidance(self.guidance_of(request))
        self.check_prompts(request.prompts)
        duration_s = request.duration_s or self.clip_duration_s
        latents = self.initial_noise(request)
        self.pipe.scheduler = self._scheduler(sampler)
        t0 = time.perf_counter()
        audio, nfe = self._run(request, latents, guidance, duration_s)
        timings = {"pipeline_s": time.perf_counter() - t0}
        return GenResult(self._finish(audio, duration_s), self.sample_rate, nfe, timings_s=timings)

    def _run(self, request: GenRequest, latents: Any, guidance: float, duration_s: float) -> tuple[Any, int]:
        import torch

        generators = item_generators(request.prompts, request.seeds, stream="scheduler")
        self._rows = 0
        with torch.inference_mode(), warnings.catch_warnings():
            # torchsde warns when a float32 σ lands a hair below the Brownian tree's σ_min (0.29999998
            # vs 0.3) and clamps it: harmless, and it would flood every run's log
            warnings.filterwarnings("ignore", message="Should have t", category=UserWarning)
            audio = self.call_pipeline(list(request.prompts), latents.to(self.device, self._torch_dtype()),
                                       generators, guidance, request.steps, duration_s)
        batch = len(request.prompts)
        if self._rows % batch:
            raise RuntimeError(f"{self.info.name}: the denoiser saw {self._rows} rows for a batch of {batch}")
        return audio, self._rows // batch

    def _count_call(self, module: Any, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else next(v for k, v in kwargs.items() if k in ("hidden_states", "sample"))
        self._rows += int(x.shape[0])

    @abc.abstractmethod
    def call_pipeline(self, prompts: list[str], latents: Any, generators: list, guidance: float, steps: int,
                      duration_s: float) -> Any:
        """The pipeline's audio for ``prompts``: array-like [B, (channels,) samples]."""

    def _finish(self, audio: Any, duration_s: float) -> np.ndarray:
        """[B, (C,) n] -> float32 mono [B, round(duration_s · rate)], clipped to [-1, 1]."""
        x = np.asarray(audio.float().cpu() if hasattr(audio, "cpu") else audio, dtype=np.float32)
        if x.ndim == 3:
            x = x.mean(axis=1)
        if not np.isfinite(x).all():
            fix = "run it in float32 (dtype='float32')" if self.dtype_name != "float32" else \
                "the weights or the scheduler settings are broken (check model= and the sampler)"
            raise SystemInputError(f"{self.info.name}: the pipeline returned NaN or infinite audio (dtype "
                                   f"{self.dtype_name}); {fix}")
        n = round(duration_s * self.sample_rate)
        return np.clip(pad_to(x[:, :n], n), -1.0, 1.0).astype(np.float32)
