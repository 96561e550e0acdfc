"""A reproduction card: one paper's citable numbers and claims, as data.

A card names the protocol whose run it is judged on, the paper's own numbers (each with its
source and the row of ours closest to it), the claims written as checkable statements over our
rows (``bench.cards.claims``), the metrics that judge them, each system's default operating
point (for the speed comparison) and the settings in which our reproduction deviates from the
paper. Cards hold no code beyond lookups: the verdicts are pure functions in ``claims`` and
``verdicts``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: two guidance values closer than this are the same setting (they are written from floats)
GUIDANCE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RowRef:
    """One row of a run: (system, sampler, steps) and, where several exist, the guidance.

    ``guidance=None`` means the system's default guidance, i.e. the only row with this system,
    sampler and steps; when a guidance sweep puts several rows there, the reference is
    ambiguous and must name its guidance. ``precision`` tells an int8 row (``"int8"``) from the
    fp32 one at the same point; ``variant`` a row made with other generation settings (the row's
    ``variant``, e.g. ``"nu1.5"``; "" = the system's defaults).
    """

    system: str
    sampler: str
    steps: int
    guidance: float | None = None
    precision: str = "fp32"
    variant: str = ""

    def label(self) -> str:
        cfg = "" if self.guidance is None else f" cfg {self.guidance:g}"
        variant = f" {self.variant}" if self.variant else ""
        precision = "" if self.precision == "fp32" else f" {self.precision}"
        return f"{self.system}/{self.sampler}/{self.steps}{cfg}{variant}{precision}"

    def matches(self, row: dict) -> bool:
        """Same system, sampler, steps, variant and precision (the guidance is checked by ``find``)."""
        return ((row.get("system"), row.get("sampler"), row.get("steps"), row.get("variant", ""),
                 row.get("precision", "fp32"))
                == (self.system, self.sampler, self.steps, self.variant, self.precision))

    def find(self, rows: list[dict]) -> tuple[dict | None, str]:
        """``(row, "")`` for the one matching row, else ``(None, why not)``."""
        same = [r for r in rows if self.matches(r)]
        if self.guidance is not None:
            same = [r for r in same if _same_guidance(r.get("guidance"), self.guidance)]
        if len(same) == 1:
            return same[0], ""
        if not same:
            return None, f"no row {self.label()} in the run"
        found = ", ".join(f"{r.get('guidance')}" for r in same)
        return None, (f"{len(same)} rows match {self.label()} (guidance {found}): the reference is "
                      "ambiguous; give the RowRef a guidance")


def _same_guidance(value: Any, wanted: float) -> bool:
    return isinstance(value, (int, float)) and math.isclose(value, wanted, rel_tol=0.0,
                                                            abs_tol=GUIDANCE_TOLERANCE)


@dataclass(frozen=True)
class PaperNumber:
    """One number the paper publishes, with where it is from and our closest row and metric.

    The values are not comparable with ours (another dataset, model scale and embeddings); the
    report sets them side by side so that directions and orderings can be compared.
    """

    table: str  # e.g. "Table 1"
    row: str  # the paper's row label, verbatim
    metric: str  # the paper's metric name, verbatim (e.g. "FD")
    value: float
    higher_is_better: bool
    setup: str  # steps, guidance, test set as the paper states them
    source: str  # URL of the page the number was read from
    ours: RowRef | None = None
    our_metric: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"paper number {self.table}/{self.row}/{self.metric} must be finite, "
                             f"got {self.value}: transcribe the published value or leave it out")
        if (self.ours is None) != (self.our_metric is None):
            raise ValueError(f"paper number {self.table}/{self.row}/{self.metric}: give both `ours` "
                             "and `our_metric`, or neither")


@dataclass(frozen=True)
class MetricTable:
    """A table of the card: ``rows`` × ``metrics``, each cell the value with its bootstrap CI."""

    title: str
    text: str
    rows: tuple[RowRef, ...]
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Card:
    """One paper's reproduction card (see the module docstring).

    ``default_points`` maps a system to ``(sampler, steps)`` or ``(sampler, steps, guidance)``:
    the guidance is needed where a guidance sweep puts several rows at that point.
    """

    name: str
    paper: str
    citation: str
    url: str
    protocol: str  # a name in bench.protocols.PROTOCOLS
    summary: str
    caveat: str
    paper_numbers: tuple[PaperNumber, ...]
    claims: tuple[Any, ...]  # claim objects of bench.cards.claims
    metrics: tuple[str, ...]
    default_points: dict[str, tuple]
    deviations: tuple[str, ...]
    tables: tuple[MetricTable, ...] = ()
    #: a point timed fp32 vs dynamic int8 on the edge-cpu thread count (bench.int8_compare)
    int8_point: RowRef | None = None
    #: a content-preservation run judged with the protocol's rows (bench.cards.content.ContentSpec)
    content: Any = None

    def __post_init__(self) -> None:
        ids = [claim.id for claim in self.claims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"card {self.name}: claim ids must be unique, got {ids}")
        if not self.metrics:
            raise ValueError(f"card {self.name}: name at least one metric that judges the claims")
        for system, point in self.default_points.items():
            if len(point) not in (2, 3):
                raise ValueError(f"card {self.name}: default point of {system} must be (sampler, "
                                 f"steps) or (sampler, steps, guidance), got {point!r}")

    def default_ref(self, system: str) -> RowRef:
        """The system's default operating point as a row reference."""
        return RowRef(system, *self.default_points[system])
