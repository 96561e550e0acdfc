"""The contract every system implements: generators, accelerators and codecs.

This module is the whole of what the harness (``bench.runner``, ``bench.speed``, ``bench
adherence``, ``bench list``) and the contract tests (``tests/systems/test_contract.py``) use of a
system; nothing else is read.

- ``cls.info`` (:class:`SystemInfo`): its registered name, a paper line, the samplers a request
  may name, the step counts it is meant for, and the step count the contract tests run it at.
- ``cls.kind``: ``"generator"``, ``"accelerator"`` or ``"codec"``, fixed by the base class.
- ``cls.from_components(components, **config)``: the runner's constructor. ``components`` are
  the shared, frozen text encoder, autoencoder and teacher (injected, never re-created);
  ``config`` is the protocol entry's settings. It returns a system ready to use on the
  components' device. ``load(device)`` is for a system built standalone by its constructor.
- ``sample_rate``: the rate of the system's audio, set once it is built.
- ``config()``: JSON-able settings that determine the output, ``{"system": info.name}`` plus
  what a subclass adds (``{**super().config(), ...}``); ``cache_config()`` is what the runner
  keys generated clips by and always carries the name, so two systems never share a clip.
- Generators (:class:`TextToAudio`): ``generate(GenRequest) -> GenResult``; ``sampler`` and
  ``guidance`` are what a request that names none gets (the runner records the guidance);
  ``quantized_int8()`` serves the ``edge-cpu`` speed profile (optional).
- Accelerators add ``fit(budget, settings=, store=, progress=)``, ``trained_from``,
  ``train_defaults`` and ``training_record()``; codecs have ``encode``, ``decode`` and
  ``bitrate_kbps``.

Conventions fixed here, once, for every system (:func:`check_steps` and :func:`check_guidance`
are the one place they are checked; the samplers and grids use them too):
- ``guidance``: classifier-free guidance scale with 1 = no guidance (diffusers/stable-audio
  convention), ``D_w = D_null + w (D_cond - D_null)``; ``None`` = the system's default.
- ``steps``: number of solver intervals N (not NFE); ``GenResult.nfe`` is the number of network
  evaluations really spent per sample, CFG branches counted (one call on a batch counts once).
- ``duration_s``: ``None`` = the shared components' clip length.
- Seeds belong to items: the initial noise of item i depends only on (prompts[i], seeds[i]) and
  the latent shape, so every system sees the same noise and batch size never changes a result.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from common.registry import unknown_name
from systems import noise


class SystemInputError(ValueError):
    """A request or configuration a system cannot honour; the message says how to fix it."""


def check_steps(steps: Any) -> int:
    """``steps`` (the number of solver intervals N, not NFE) as an int >= 1, or a SystemInputError."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise SystemInputError(f"steps must be an integer >= 1 (the number of solver intervals), "
                               f"got {steps!r}")
    return int(steps)


def check_guidance(guidance: Any) -> float:
    """``guidance`` (1 = none, 0 = unconditional, > 1 = stronger) as a float, or a SystemInputError."""
    number = isinstance(guidance, (int, float, np.integer, np.floating)) and not isinstance(guidance, bool)
    if not number or not math.isfinite(guidance) or guidance < 0:
        raise SystemInputError(f"guidance must be a finite number >= 0 (1 = no guidance, 0 = unconditional, "
                               f"> 1 = stronger prompt adherence), got {guidance!r}")
    return float(guidance)


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
        object.__setattr__(self, "steps", check_steps(self.steps))
        if self.guidance is not None:
            check_guidance(self.guidance)
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
    """What a system is and how it is run: read by ``bench list``, the systems and the contract tests.

    ``samplers``: the sampler names a request may choose (the teacher: every registered one);
    ``()`` = the system integrates with its own solver and a request naming a sampler is refused.
    ``default_steps``: the step counts it is meant for, fewest first (``bench adherence`` runs
    them). ``test_steps``: the step count the contract tests generate (or decode) with; ``None`` =
    the fewest default steps (a codec without steps: ``decode(steps=None)``).
    """

    name: str
    paper: str = ""
    samplers: tuple[str, ...] = ()
    default_steps: tuple[int, ...] = ()
    test_steps: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"SystemInfo.name must be the registered name, got {self.name!r}")
        object.__setattr__(self, "samplers", tuple(self.samplers))
        steps = tuple(check_steps(s) for s in self.default_steps)
        if list(steps) != sorted(set(steps)):
            raise ValueError(f"{self.name}: default_steps must be increasing, got {self.default_steps}")
        object.__setattr__(self, "default_steps", steps)
        if self.test_steps is None and steps:
            object.__setattr__(self, "test_steps", steps[0])
        elif self.test_steps is not None:
            object.__setattr__(self, "test_steps", check_steps(self.test_steps))


class System(abc.ABC):
    """Common base: a cheap constructor, built by the runner with :meth:`from_components`."""

    info: ClassVar[SystemInfo]
    kind: ClassVar[str]
    sample_rate: int  # the rate of the system's audio, set once it is built
    #: constructor settings that make another row of the same (sampler, steps) when a protocol
    #: entry's config sets them (e.g. SoundCTM's ``nu``): the row id and ``variant`` name them
    row_options: ClassVar[tuple[str, ...]] = ()
    #: the constructor config the contract tests build it with (``from_components(c, **test_config)``),
    #: e.g. ``{"model": "tiny-random"}`` for an adapter of a released model: no download in tests
    test_config: ClassVar[Mapping[str, Any]] = {}
    #: optional Python modules (pip extras) it needs; where one is missing its tests skip, saying so
    requires: ClassVar[tuple[str, ...]] = ()

    @classmethod
    @abc.abstractmethod
    def from_components(cls, components: Any, **config: Any) -> System:
        """A ready system on the shared ``components`` (injected, never re-created) and the protocol
        entry's ``config``; the runner calls nothing else before using it."""

    @abc.abstractmethod
    def load(self, device: str = "cpu") -> System:
        """Load or build weights on ``device`` for a system built standalone; returns self."""

    def config(self) -> dict[str, Any]:
        """JSON-able settings that determine the output (hashed into caches and results).

        Subclasses extend it: ``{**super().config(), "sampler": ..., ...}``.
        """
        return {"system": self.info.name}

    def cache_config(self) -> dict[str, Any]:
        """What generated clips are keyed by: ``config()`` with ``"system"`` = the registered name."""
        config = dict(self.config())
        if config.setdefault("system", self.info.name) != self.info.name:
            raise ValueError(f"{type(self).__name__}.config() names system {config['system']!r}, but the "
                             f"system is registered as {self.info.name!r}")
        return config


class TextToAudio(System):
    """A text-to-audio generator."""

    kind = "generator"
    sampler: str | None = None  # what a request naming no sampler gets (None: the system's own solver)
    guidance: float = 1.0  # what a request naming no guidance gets (1 = none); the runner records it

    @abc.abstractmethod
    def generate(self, request: GenRequest) -> GenResult:
        """Clips for ``request.prompts`` with per-item seeds."""

    def sampler_of(self, request: GenRequest) -> str | None:
        """The sampler ``request`` runs with (its own, else the system's); one not offered is refused."""
        name = request.sampler or self.sampler
        if name is None or name in self.info.samplers:
            return name
        if not self.info.samplers:
            raise SystemInputError(f"system {self.info.name!r} samples with its own solver and takes no "
                                   f"sampler; leave sampler unset (got {name!r})")
        raise unknown_name(name, self.info.samplers, "sampler")

    def guidance_of(self, request: GenRequest) -> float:
        """The CFG scale ``request`` runs with: its own, else the system's default."""
        return self.guidance if request.guidance is None else request.guidance

    def latent_shape(self, duration_s: float | None) -> tuple[int, ...]:
        """Shape of one item's initial noise (without the batch axis)."""
        raise NotImplementedError(f"{type(self).__name__} does not start from latent noise")

    def initial_noise(self, request: GenRequest):
        """ε [B, *latent_shape] from the items' own generators: identical in every system."""
        return noise.initial_noise(request.prompts, request.seeds, self.latent_shape(request.duration_s))

    def quantized_int8(self) -> TextToAudio:
        """A copy with dynamically int8-quantised linear layers (the ``edge-cpu`` speed profile)."""
        raise NotImplementedError(f"system {self.info.name!r} has no int8-quantised variant; the edge-cpu "
                                  "speed profile needs one (use the cpu profile)")


class Accelerator(TextToAudio):
    """A generator trained from the shared components under a :class:`~systems.training.Budget`.

    ``trained_from``: ``"teacher"`` (distilled or post-trained from the shared teacher checkpoint:
    every such system gets the same accelerator budget) or ``"scratch"`` (trained from random
    weights on the teacher's data: it gets the teacher's own budget). ``train_defaults``: the
    training settings and their defaults (paper values, or the deviation, with the reason in the
    system's docstring); a protocol entry's ``train`` dict overrides them by name.
    """

    kind = "accelerator"
    trained_from: ClassVar[str] = "teacher"
    train_defaults: ClassVar[Mapping[str, Any]] = {}

    @abc.abstractmethod
    def fit(self, budget: Any, *, settings: Mapping[str, Any] | None = None, store: Any = None,
            progress: bool = True) -> Any:
        """Train under ``budget`` (or reuse the run the component ``store`` holds for the same
        teacher, budget, settings and code version; a killed run resumes), bind the trained
        weights, and return the :class:`~systems.training.TrainReport`."""

    def training_record(self) -> dict[str, Any]:
        """What the leaderboard's training columns show (updates, examples, wall time, teacher NFE
        online and offline, peak RAM, ...); empty before ``fit``."""
        return {}

    def train_settings(self, settings: Mapping[str, Any] | None) -> dict[str, Any]:
        """``train_defaults`` overridden by ``settings``; an unknown name is a SystemInputError."""
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(self.train_defaults))
        if unknown:
            raise SystemInputError(f"{self.info.name} has no training setting(s) {unknown}; known: "
                                   f"{sorted(self.train_defaults)}")
        return {**self.train_defaults, **settings}


@dataclass(frozen=True)
class Encoded:
    """A codec's payload: discrete codes or continuous latents, with its exact size in bits.

    ``payload_bits`` is the size of one clip's payload; ``num_samples`` the length of one clip.
    """

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

    kind = "codec"

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
