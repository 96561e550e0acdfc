"""Claim kinds: a paper's statements as comparisons over our rows, and the judge that decides them.

Each kind is data (which rows, which comparison) and plans its comparisons per metric with
``contrasts(rows, metric)``; :func:`judge` evaluates every planned comparison of a claim at one
Bonferroni level and combines them (rules in ``bench.cards.verdicts``). Nothing here runs a model.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.cards.base import RowRef
from bench.cards.verdicts import (
    ALPHA,
    EQUIVALENCE,
    NON_INFERIORITY,
    SUPERIORITY,
    Contrast,
    bonferroni_level,
    combine_claim,
    combine_metric,
    evaluate,
    pairwise,
    reference_margin,
    usable_metric,
)


@dataclass(frozen=True, kw_only=True)
class Claim:
    """What every claim has: an id (e.g. "a") and the statement as the paper makes it."""

    id: str
    statement: str
    #: the metrics that judge this claim (e.g. a diversity claim on CCDS alone); () = the card's
    metrics: tuple[str, ...] = ()


def _has_row(rows: list[dict], ref: RowRef) -> bool:
    """Whether any row sits at ``ref`` (several may: RowRef.find then says it is ambiguous)."""
    return any(ref.matches(r) and (ref.guidance is None or ref.find([r])[0] is not None) for r in rows)


@dataclass(frozen=True)
class NearBestAtEqualSteps(Claim):
    """The system is non-inferior to each rival at every shared step count, and its advantage
    over ``teacher`` is larger at the fewest shared steps than at the most (difference of
    differences > 0): "best or near-best at equal steps, most clearly at low steps"."""

    system: str
    rivals: tuple[tuple[str, str], ...]
    sampler: str
    steps: tuple[int, ...]
    teacher: tuple[str, str] = ("teacher", "euler")
    guidance: float | None = None  # of the system's rows; None = its only row at each step count

    def __post_init__(self) -> None:
        if self.teacher not in self.rivals:
            raise ValueError(f"claim {self.id}: the teacher {self.teacher} must be one of the rivals "
                             f"{self.rivals} (the low-steps advantage is measured against it)")

    def own(self, steps: int) -> RowRef:
        return RowRef(self.system, self.sampler, steps, self.guidance)

    def common_steps(self, rows: list[dict], rival: tuple[str, str]) -> list[int]:
        return [s for s in self.steps if _has_row(rows, self.own(s)) and _has_row(rows, RowRef(*rival, s))]

    def contrasts(self, rows: list[dict], metric: str) -> list[Contrast]:
        out = []
        for rival in self.rivals:
            common = self.common_steps(rows, rival)
            out += [pairwise(metric, NON_INFERIORITY, self.own(s), RowRef(*rival, s)) for s in common]
            if not common:
                out.append(Contrast(metric, f"{self.system}/{self.sampler}", "/".join(rival),
                                    NON_INFERIORITY, (), f"no step count of {self.steps} has rows of "
                                    f"both {self.system}/{self.sampler} and {'/'.join(rival)}"))
        return out + [self.low_steps_contrast(rows, metric)]

    def low_steps_contrast(self, rows: list[dict], metric: str) -> Contrast:
        """(system − teacher) at the fewest shared steps minus the same at the most, > 0."""
        common, teacher = self.common_steps(rows, self.teacher), "/".join(self.teacher)
        label = f"({self.system} − {teacher}) at {{}} steps"
        if len(common) < 2:
            return Contrast(metric, label.format("fewest"), label.format("most"), SUPERIORITY, (),
                            f"needs two step counts with rows of both {self.system} and {teacher}, "
                            f"found {common}")
        lo, hi = min(common), max(common)
        terms = ((1.0, self.own(lo)), (-1.0, RowRef(*self.teacher, lo)),
                 (-1.0, self.own(hi)), (1.0, RowRef(*self.teacher, hi)))
        return Contrast(metric, label.format(lo), label.format(hi), SUPERIORITY, terms)

    def method(self) -> str:
        rivals = ", ".join("/".join(r) for r in self.rivals)
        return (f"non-inferiority (margin δ) of {self.system}/{self.sampler} against each of {rivals} "
                f"at every step count of {list(self.steps)} where both have rows; and superiority of "
                f"the difference of differences: ({self.system} − {'/'.join(self.teacher)}) at the "
                "fewest shared steps minus the same at the most shared steps > 0")


@dataclass(frozen=True)
class Reaches(Claim):
    """The system row is non-inferior to the rival's best row, chosen per metric by point value."""

    system_row: RowRef
    rival_system: str
    rival_sampler: str

    def best_rival(self, rows: list[dict], metric: str) -> tuple[RowRef | None, str]:
        scored = []
        for row in rows:
            if (row.get("system"), row.get("sampler")) == (self.rival_system, self.rival_sampler):
                m, _ = usable_metric(row, metric)
                if m is not None:
                    scored.append(((m["value"] if m["higher_is_better"] else -m["value"]), row))
        if not scored:
            return None, f"no {self.rival_system}/{self.rival_sampler} row has a usable {metric}"
        row = max(scored, key=lambda pair: pair[0])[1]
        return RowRef(row["system"], row["sampler"], row["steps"], row.get("guidance")), ""

    def contrasts(self, rows: list[dict], metric: str) -> list[Contrast]:
        best, why = self.best_rival(rows, metric)
        rival = f"{self.rival_system}/{self.rival_sampler}"
        if best is None:
            return [Contrast(metric, self.system_row.label(), f"best {rival}", NON_INFERIORITY, (), why)]
        return [pairwise(metric, NON_INFERIORITY, self.system_row, best,
                         f"best {rival} by {metric}: {best.label()}")]

    def method(self) -> str:
        return (f"non-inferiority (margin δ) of {self.system_row.label()} against the best "
                f"{self.rival_system}/{self.rival_sampler} row, chosen per metric by its point value")


@dataclass(frozen=True)
class ModerateBeats(Claim):
    """The moderate-guidance row is strictly better than each other-guidance row."""

    system: str
    sampler: str
    steps: int
    moderate: float
    others: tuple[float, ...]

    def contrasts(self, rows: list[dict], metric: str) -> list[Contrast]:
        moderate = RowRef(self.system, self.sampler, self.steps, self.moderate)
        return [pairwise(metric, SUPERIORITY, moderate, RowRef(self.system, self.sampler, self.steps, g))
                for g in self.others]

    def method(self) -> str:
        others = ", ".join(f"{g:g}" for g in self.others)
        return (f"superiority of {self.system}/{self.sampler}/{self.steps} at guidance "
                f"{self.moderate:g} over the same at each guidance of {others}")


@dataclass(frozen=True)
class RisesThenSaturates(Claim):
    """row(mid) strictly better than row(low); row(high) equivalent to row(mid) within ±δ."""

    system: str
    sampler: str
    low: int
    mid: int
    high: int
    guidance: float | None = None  # None = the system's only row at each step count

    def contrasts(self, rows: list[dict], metric: str) -> list[Contrast]:
        at = {s: RowRef(self.system, self.sampler, s, self.guidance) for s in (self.low, self.mid, self.high)}
        return [pairwise(metric, SUPERIORITY, at[self.mid], at[self.low]),
                pairwise(metric, EQUIVALENCE, at[self.high], at[self.mid])]

    def method(self) -> str:
        name = f"{self.system}/{self.sampler}"
        return (f"rises: superiority of {name} at {self.mid} steps over {self.low} steps; saturates: "
                f"{self.high} steps equivalent to {self.mid} steps within ±δ")


@dataclass(frozen=True)
class Beats(Claim):
    """``row`` compared with each of ``rivals`` as ``kind``: superiority ("better than"),
    non-inferiority ("no worse than, within δ") or equivalence ("the same within ±δ")."""

    row: RowRef
    rivals: tuple[RowRef, ...]
    kind: str = SUPERIORITY

    def __post_init__(self) -> None:
        if self.kind not in (SUPERIORITY, NON_INFERIORITY, EQUIVALENCE):
            raise ValueError(f"claim {self.id}: kind must be {SUPERIORITY}, {NON_INFERIORITY} or "
                             f"{EQUIVALENCE}, got {self.kind!r}")
        if not self.rivals:
            raise ValueError(f"claim {self.id}: name at least one rival row")

    def contrasts(self, rows: list[dict], metric: str) -> list[Contrast]:
        return [pairwise(metric, self.kind, self.row, rival) for rival in self.rivals]

    def method(self) -> str:
        rivals = ", ".join(r.label() for r in self.rivals)
        return f"{self.kind} of {self.row.label()} against each of {rivals}"


def judge(claim, results: dict, metrics: tuple[str, ...]) -> dict:
    """The JSON-able verdict of one claim on a run's ``results`` (see ``bench.cards.verdicts``);
    the claim's own ``metrics`` replace the card's when it names any."""
    metrics = tuple(getattr(claim, "metrics", ()) or metrics)
    rows = results.get("rows", [])
    margins = {m: reference_margin(rows, results.get("protocol", {}).get("resolution"), m)
               for m in metrics}
    planned = [c for m in metrics for c in claim.contrasts(rows, m)]
    level = bonferroni_level(len(planned))
    evidence = [evaluate(c, rows, level, margins[c.metric]["delta"]) for c in planned]
    per_metric = {m: combine_metric([e for e in evidence if e["metric"] == m]) for m in metrics}
    verdict, reason = combine_claim(per_metric)
    return {"id": claim.id, "statement": claim.statement, "kind": type(claim).__name__,
            "method": claim.method(), "verdict": verdict, "reason": reason, "alpha": ALPHA,
            "comparisons": len(planned), "level": level,
            "level_note": level_note(level, replicate_count(rows, metrics)),
            "margins": margins, "per_metric": per_metric, "evidence": evidence}


def replicate_count(rows: list[dict], metrics: tuple[str, ...]) -> int | None:
    """B, the bootstrap replicates per row metric of the run (None when there are none)."""
    sizes = [len(r["metrics"][m]["replicates"]) for r in rows for m in metrics
             if isinstance(r.get("metrics", {}).get(m, {}).get("replicates"), list)]
    return max(sizes) if sizes else None


def level_note(level: float, n_replicates: int | None) -> str:
    """Says when B replicates are too few to resolve the level's tails (they fall on the extremes)."""
    if n_replicates is None or level <= 1.0 - 2.0 / n_replicates:
        return ""
    return (f"with B = {n_replicates} bootstrap replicates a level above 1 − 2/B = "
            f"{1.0 - 2.0 / n_replicates:.3f} puts the interval's ends at (interpolations next to) "
            "the outermost replicates, i.e. close to their full range; more replicates would "
            "sharpen it")
