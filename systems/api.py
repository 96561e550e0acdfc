"""The plugin interface every system implements: generators, accelerators and codecs.

The evaluation side only sees :class:`TextToAudio` and :class:`Codec`. Accelerators add
``fit(data, budget, run_dir)`` on top of a generator and are built from the shared components
(text encoder, autoencoder, teacher), which are injected, never re-created.

Conventions fixed here, once, for every system:
- ``guidance``: classifier-free guidance scale with 1 = no guidance (diffusers/stable-audio
  convention), ``D_w = D_null + w (D_cond - D_null)``; ``None`` = the system's default.
- ``steps``: number of solver intervals N (not NFE); ``GenResult.nfe`` is the number of network
  evaluations really spent per sample, CFG branches counted (one call on a batch counts once).
- Seeds belong to items: the initial noise of item i depends only on (prompts[i], seeds[i]) and
  the latent shape, so every system sees the same noise and batch size never changes a result.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from systems import noise


class SystemInputError(ValueError):
    """A request or configuration a system cannot honour; the message says how to fix it."""


@dataclass(frozen=True)
class GenRequest:
    """What to generate: one clip per (prompt, seed) pair."""

    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    guidance: float | None = None
    duration_s: float | None = None
    sampler: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompts", tuple(self.prompts))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        _check_prompts(self.prompts)
        _check_seeds(self.seeds, len(self.prompts))
        _check_steps(self.steps)
        if self.guidance is not None:
            _check_guidance(self.guidance)
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise SystemInputError(
                f"duration_s must be a positive number of seconds, got {self.duration_s!r}")


def _check_prompts(prompts: tuple) -> None:
    if not prompts:
        raise SystemInputError("no prompts given: pass at least one non-empty text prompt")
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise SystemInputError(f"prompt {i} is {type(prompt).__name__}, expected a string")
        if not prompt.strip():
            raise SystemInputError(
                f"prompt {i} is empty; every prompt needs text (the empty prompt is reserved as the "
                "null condition of classifier-free guidance)"
            )


def _check_seeds(seeds: tuple, n_prompts: int) -> None:
    if len(seeds) != n_prompts:
        raise SystemInputError(f"got {len(seeds)} seeds for {n_prompts} prompts: give one seed per prompt")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SystemInputError(f"seeds must be non-negative integers, got {seed!r}")


def _check_steps(steps: Any) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise SystemInputError(f"steps must be an integer >= 1, got {steps!r}")


def _check_guidance(guidance: Any) -> None:
    if not isinstance(guidance, (int, float)) or not math.isfinite(guidance) or guidance < 0:
        raise SystemInputError(
            f"guidance must be a finite number >= 0 (1 = no guidance, 0 = unconditional), got {guidance!r}"
        )


@dataclass
class GenResult:
    """Generated clips. ``audio``: float32 [B, n] in [-1, 1] at ``sample_rate``."""

    audio: np.ndarray
    sample_rate: int
    nfe: int
    latents: Any = None
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SystemInfo:
    """What a system is, for listings and result records."""

    name: str
    kind: str  # "generator" | "accelerator" | "codec"
    paper: str = ""
    needs_teacher: bool = False
    supports_cfg: bool = True
    default_steps: tuple[int, ...] = ()
    native_sampler: str | None = None


class System(abc.ABC):
    """Common base: cheap constructor, heavy work in :meth:`load`."""

    info: ClassVar[SystemInfo]
    sample_rate: int
    channels: int = 1

    @abc.abstractmethod
    def load(self, device: str = "cpu") -> System:
        """Load or build weights on ``device``; returns self."""

    def config(self) -> dict[str, Any]:
        """JSON-able settings that determine the output (hashed into caches and results)."""
        return {}


class TextToAudio(System):
    """A text-to-audio generator."""

    @abc.abstractmethod
    def generate(self, request: GenRequest) -> GenResult:
        """Clips for ``request.prompts`` with per-item seeds."""

    def default_steps(self) -> tuple[int, ...]:
        return self.info.default_steps

    def latent_shape(self, duration_s: float | None) -> tuple[int, ...]:
        """Shape of one item's initial noise (without the batch axis)."""
        raise NotImplementedError(f"{type(self).__name__} does not start from latent noise")

    def initial_noise(self, request: GenRequest):
        """ε [B, *latent_shape] from the items' own generators: identical in every system."""
        return noise.initial_noise(request.prompts, request.seeds, self.latent_shape(request.duration_s))


class Accelerator(TextToAudio):
    """A generator trained from the shared components under a :class:`~systems.training.Budget`."""

    @abc.abstractmethod
    def fit(self, data: Any, budget: Any, run_dir: Any) -> Any:
        """Train under ``budget``; resumable from ``run_dir``; returns a TrainReport."""


@dataclass(frozen=True)
class Encoded:
    """A codec's payload: discrete codes or continuous latents, with its exact size in bits."""

    codes: Any
    latents: Any
    frame_rate_hz: float
    payload_bits: int
    num_samples: int
    sample_rate: int

    @property
    def bitrate_kbps(self) -> float:
        """Measured bitrate: payload bits over the clip duration."""
        return self.payload_bits / (self.num_samples / self.sample_rate) / 1000.0


class Codec(System):
    """An audio codec: ``encode`` to a payload of known size, ``decode`` back to audio."""

    @abc.abstractmethod
    def encode(self, audio: np.ndarray) -> Encoded:
        """``audio``: float32 [B, n] at ``sample_rate``."""

    @abc.abstractmethod
    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        """Audio float32 [B, n] from a payload."""

    @abc.abstractmethod
    def bitrate_kbps(self) -> float:
        """Nominal bitrate of the configured operating point."""


def check_options(options: Mapping[str, Any], allowed: Sequence[str], who: str) -> None:
    """Refuse unknown generation options, naming the ones ``who`` understands."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SystemInputError(
            f"{who} does not understand option(s) {unknown}; allowed: {sorted(allowed) or 'none'}"
        )
