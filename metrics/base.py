"""Metric contract: ``MetricInfo``, per-clip ``Features`` and the accumulator base class.

A metric is a pure function of arrays (in its own module) plus a small accumulator with
``update / compute / reset``. ``update_items`` adapts the engine's per-clip ``Features`` to the
accumulator's array inputs; ``resample`` defines the bootstrap unit (clips, pairs or prompts).
"""
from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np


class MetricInputError(ValueError):
    """Inputs a metric cannot be computed on; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class MetricInfo:
    """Static description of a metric.

    ``kind``: distribution (gen vs ref sets), paired (gen[i] vs ref[i] by id), text (audio vs
    its prompt), conditional (groups of generations sharing a prompt) or reference-free.
    ``needs``: what it consumes per clip: embedding, logits, layers, text, audio.
    ``domain``: (lower, upper) of the values the metric can take; confidence intervals are kept
    inside it (``metrics.intervals``). ``version``: bump it whenever a change alters the metric's
    computed value (the runner keys cached results by it).
    """

    name: str
    higher_is_better: bool
    kind: str
    needs: tuple[str, ...]
    unit: str = ""
    description: str = ""
    needs_backend: bool = True
    domain: tuple[float, float] = (-math.inf, math.inf)
    version: int = 1

    def __post_init__(self) -> None:
        lower, upper = self.domain
        if not lower < upper:  # a declaration error: fail at import, not in the middle of a run
            raise ValueError(f"MetricInfo {self.name!r}: domain must be (lower, upper) with "
                             f"lower < upper, got {self.domain}")
        if not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"MetricInfo {self.name!r}: version must be an integer ≥ 1, "
                             f"got {self.version!r}")


@dataclass
class Features:
    """What the engine extracted for one clip. Arrays are float32 as cached; metrics upcast."""

    id: str
    prompt: str | None = None
    embedding: np.ndarray | None = None  # [frames, d]
    logits: np.ndarray | None = None  # [frames, classes], pre-activation scores
    layers: list[np.ndarray] | None = None  # each [tokens, channels]
    text: np.ndarray | None = None  # [d] embedding of the prompt (joint audio-text backends)
    audio: np.ndarray | None = None  # [channels, samples] for signal metrics
    sample_rate: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def as_float64_2d(x: np.ndarray, what: str) -> np.ndarray:
    """Return ``x`` as a float64 [N, d] array, rejecting NaN/Inf."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise MetricInputError(f"{what}: expected a [N, d] array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise MetricInputError(f"{what}: contains NaN or Inf; check the embedding backend input")
    return x


def check_finite(value: float, what: str) -> float:
    """Never let NaN/Inf into a result: raise with context instead."""
    if not np.isfinite(value):
        raise MetricInputError(f"{what} is not finite ({value}); refusing to report it")
    return float(value)


class Metric(ABC):
    """Accumulator base. Subclasses set ``info`` and implement update/compute/reset."""

    info: ClassVar[MetricInfo]
    #: options accepted from the spec string (``fd@aisfx:level=clip``) with their defaults
    options: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every subclass's ``update_items`` also records what it was fed (:meth:`fed`): the
        accumulator's mergeable state (:mod:`metrics.state`)."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("update_items")
        if own is not None and not getattr(own, "_records", False):
            def update_items(self, gen: Sequence[Features], ref: Sequence[Features], _own=own) -> None:
                _own(self, gen, ref)
                self._fed[0].extend(gen)
                self._fed[1].extend(ref)

            update_items._records = True
            update_items.__doc__, update_items.__name__ = own.__doc__, own.__name__
            cls.update_items = update_items
        own_reset = cls.__dict__.get("reset")
        if own_reset is not None and not getattr(own_reset, "_records", False):
            def reset(self, _own=own_reset) -> None:
                _own(self)
                self._fed = ([], [])

            reset._records = True
            reset.__doc__, reset.__name__ = own_reset.__doc__, own_reset.__name__
            cls.reset = reset

    def fed(self) -> tuple[list[Features], list[Features]]:
        """The (gen, ref) features this accumulator consumed since its last ``reset``, in order."""
        return self._fed

    def __init__(self, **options: Any) -> None:
        self._fed: tuple[list[Features], list[Features]] = ([], [])
        unknown = set(options) - set(self.options)
        if unknown:
            known = ", ".join(f"{k} (default {v!r})" for k, v in self.options.items()) or "none"
            raise MetricInputError(
                f"{self.info.name}: unknown option(s) {sorted(unknown)}; known options: {known}"
            )
        self.opts = {**self.options, **options}
        self.reset()

    @property
    def higher_is_better(self) -> bool:
        return self.info.higher_is_better

    @abstractmethod
    def reset(self) -> None:
        """Forget everything accumulated."""

    @abstractmethod
    def compute(self) -> dict[str, Any]:
        """Return ``{"value": float, "n": ..., ...extras}``."""

    @abstractmethod
    def update_items(self, gen: Sequence[Features], ref: Sequence[Features]) -> None:
        """Feed per-clip features (one batch) into the accumulator."""

    def per_item(self) -> dict[str, float]:
        """Per-item values keyed by id, for metrics that have them (else empty)."""
        return {}

    def settings(self) -> dict[str, Any]:
        """Everything that defines the number: options plus estimator constants."""
        return dict(self.opts)

    # -- bootstrap -------------------------------------------------------------------------
    def resample(self, gen: Sequence[Features], ref: Sequence[Features], rng: np.random.Generator):
        """One bootstrap replicate: clips drawn with replacement, each set independently."""
        return _draw(gen, rng), _draw(ref, rng)

    def bootstrap(self, gen, ref, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Values of ``n_boot`` replicates (a fresh one-shot accumulator each)."""
        with warnings.catch_warnings():  # e.g. FD's n <= d warning: already in the result
            warnings.simplefilter("ignore")
            values = [self._replicate(gen, ref, rng) for _ in range(n_boot)]
        return np.asarray(values, dtype=np.float64)

    def _replicate(self, gen, ref, rng) -> float:
        g, r = self.resample(gen, ref, rng)
        fresh = type(self)(**self.opts)
        fresh.update_items(g, r)
        return fresh.compute()["value"]


def _draw(items: Sequence[Features], rng: np.random.Generator) -> list[Features]:
    if len(items) == 0:
        return []
    return [items[i] for i in rng.integers(0, len(items), size=len(items))]


def paired_resample(gen, ref, rng):
    """Bootstrap unit for paired metrics: (gen[i], ref[i]) pairs drawn jointly."""
    idx = rng.integers(0, len(gen), size=len(gen))
    return [gen[i] for i in idx], [ref[i] for i in idx]
