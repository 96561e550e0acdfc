"""Training budgets (the common cap every accelerator trains under) and the report of a run.

A ``Budget`` says when to stop; a ``BudgetTracker`` counts what a run has spent so far (updates,
wall time, teacher network evaluations online and offline, examples) and says which limit has
been reached; a ``TrainReport`` is what a finished run returns and stores in ``report.json``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Mapping

_INT_LIMITS = ("max_updates", "max_teacher_nfe", "max_examples")


@dataclass(frozen=True)
class Budget:
    """Limits on one training run; training stops as soon as any given limit is reached.

    ``max_teacher_nfe`` counts online and offline teacher evaluations together, so a system that
    precomputes teacher outputs (AudioTurbo's pairs) and one that queries the teacher while
    training (SoundCTM) are charged alike. ``max_wall_s`` is cumulative over resumed runs.
    Limits are checked after each update, so the update that reaches a cap finishes: a run may
    overshoot a cap by less than one update's worth (e.g. SoundCTM's ≈ 1 500 teacher NFE).
    """

    max_updates: int | None = None
    max_wall_s: float | None = None
    max_teacher_nfe: int | None = None
    max_examples: int | None = None
    # Not a limit: the batch size every update of the run uses (one budget = same updates at the
    # same batch). None: the trainee's own batch size (the shared components' presets).
    batch: int | None = None

    def __post_init__(self) -> None:
        for name in (*_INT_LIMITS, "batch"):
            _check_int_limit(name, getattr(self, name))
        _check_wall_limit(self.max_wall_s)
        if all(getattr(self, f.name) is None for f in fields(self) if f.name != "batch"):
            raise ValueError("Budget needs at least one limit: pass max_updates, max_wall_s, "
                             "max_teacher_nfe or max_examples (e.g. Budget(max_updates=1500))")

    def to_dict(self) -> dict[str, int | float | None]:
        """The limits as a JSON-able dict (None = no limit)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Budget:
        """Inverse of ``to_dict``; unknown keys are refused with the known ones named."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown Budget field(s) {unknown}; known: {[f.name for f in fields(cls)]}")
        return cls(**dict(data))


def _check_int_limit(name: str, value: object) -> None:
    """An integer limit must be a positive int (bool is refused: ``True`` is not a count)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Budget.{name} must be a positive int or None, got {value!r}; "
                         f"pass e.g. {name}=1000")
    if value <= 0:
        raise ValueError(f"Budget.{name} must be > 0, got {value}; use None for no limit")


def _check_wall_limit(value: object) -> None:
    """The wall-clock limit must be a finite positive number of seconds."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"Budget.max_wall_s must be a number of seconds or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"Budget.max_wall_s must be finite and > 0, got {value}; "
                         "use None for no wall-clock limit")


@dataclass
class BudgetTracker:
    """What a run has spent so far, compared against a ``Budget``.

    Wall time accumulates through ``tick()`` (time since the previous tick, measured with
    ``clock``), so a test can drive it with a fake clock and a resumed run can start from the
    stored total. Totals are plain Python numbers (ints exact, wall time float64).
    """

    budget: Budget
    updates: int = 0
    wall_s: float = 0.0
    online_teacher_nfe: int = 0
    offline_teacher_nfe: int = 0
    examples: int = 0
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)
    _last_tick: float | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def teacher_nfe(self) -> int:
        """Teacher evaluations online plus offline (what ``max_teacher_nfe`` limits)."""
        return self.online_teacher_nfe + self.offline_teacher_nfe

    def tick(self) -> float:
        """Add the time elapsed since the previous tick to ``wall_s``; the first tick only starts."""
        now = self.clock()
        if self._last_tick is not None:
            self.wall_s += float(now - self._last_tick)
        self._last_tick = now
        return self.wall_s

    def step(self, examples: int, online_teacher_nfe: int = 0) -> None:
        """Count one optimiser update that used ``examples`` examples and teacher NFE."""
        self.updates += 1
        self.examples += int(examples)
        self.online_teacher_nfe += int(online_teacher_nfe)

    def exhausted(self) -> str | None:
        """The name of the first limit reached (e.g. ``"max_updates"``), or None to go on."""
        spent = {"max_updates": self.updates, "max_wall_s": self.wall_s,
                 "max_teacher_nfe": self.teacher_nfe, "max_examples": self.examples}
        for name, value in spent.items():
            limit = getattr(self.budget, name)
            if limit is not None and value >= limit:
                return name
        return None

    def totals(self) -> dict[str, int | float]:
        """The counters as a JSON-able dict (stored in checkpoints to resume)."""
        return {"updates": self.updates, "wall_s": self.wall_s,
                "online_teacher_nfe": self.online_teacher_nfe,
                "offline_teacher_nfe": self.offline_teacher_nfe, "examples": self.examples}

    def load_totals(self, totals: Mapping[str, int | float]) -> None:
        """Restore counters written by ``totals()``."""
        self.updates = int(totals["updates"])
        self.wall_s = float(totals["wall_s"])
        self.online_teacher_nfe = int(totals["online_teacher_nfe"])
        self.offline_teacher_nfe = int(totals["offline_teacher_nfe"])
        self.examples = int(totals["examples"])


@dataclass(frozen=True)
class TrainReport:
    """What one training run spent and why it stopped.

    ``stopped_by`` is the budget limit that ended the run (e.g. ``"max_updates"``);
    ``resumed_from_update`` is the update count loaded from an existing checkpoint when the
    run resumed (None for a fresh run); ``history`` holds the log points (see ``log.jsonl``);
    ``budget`` is the budget the run was given (``Budget.to_dict()``). Frozen, but ``history``
    is a list: treat it as read-only.
    """

    updates: int
    wall_s: float
    online_teacher_nfe: int
    offline_teacher_nfe: int
    examples_seen: int
    stopped_by: str | None
    resumed_from_update: int | None
    history: list[dict] = field(default_factory=list)
    budget: dict | None = None

    @property
    def teacher_nfe(self) -> int:
        """Teacher evaluations online plus offline."""
        return self.online_teacher_nfe + self.offline_teacher_nfe

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (written to ``report.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainReport:
        """Inverse of ``to_dict``."""
        return cls(**dict(data))
