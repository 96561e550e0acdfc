"""Verdicts of claims from paired-bootstrap intervals: pure functions over result rows.

**Paired contrasts.** Every row's metric carries ``replicates``: B bootstrap values drawn with
the same item indices in every row of a run (``bench.resolution`` explains why), so a linear
combination of rows' replicates, taken replicate by replicate, is a replicate of the same
combination of their values. A comparison is such a combination (``a − b``, or a difference of
differences), oriented so that positive = better (× −1 for ↓ metrics), with the interval of
``metrics.intervals.bootstrap_interval``.

**Decisions**, with margin δ and interval [lo, hi]:

- superiority: supported if lo > 0, contradicted if hi < 0;
- non-inferiority: supported if lo > −δ, contradicted if hi < −δ;
- equivalence within ±δ: supported if −δ < lo and hi < δ, contradicted if lo > δ or hi < −δ;
- anything else is inconclusive; a comparison whose rows or metric are missing is not computed.

**The margin** is fixed by rule, never tuned: δ = 0.1 × |value(reference at most steps) −
value(reference at fewest steps)| in the same run, the reference being the protocol's
resolution system and sampler (the teacher, Euler): "near" = within a tenth of what the teacher
gains from its fewest to its most steps.

**Family-wise error**: the comparisons of one claim (all metrics counted) share a Bonferroni
level 1 − α/m, α = 0.05. **Combining**: a metric supports a claim when all its comparisons are
supported and contradicts it when any is contradicted; the claim is supported when every metric
supports it, contradicted when no metric supports it and at least one contradicts it, and
inconclusive otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.cards.base import RowRef

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_COMPUTED = ("supported", "contradicted", "inconclusive",
                                                       "not computed")
SUPERIORITY, NON_INFERIORITY, EQUIVALENCE = "superiority", "non-inferiority", "equivalence"
ALPHA = 0.05  # family-wise error rate of one claim
MARGIN_FRACTION = 0.1
MARGIN_RULE = ("δ = 0.1 × |value({ref} at its most steps) − value({ref} at its fewest steps)| of "
               "the same run: 'near' = within a tenth of what {ref} gains from its fewest to its "
               "most steps")


@dataclass(frozen=True)
class Contrast:
    """One planned comparison: Σ coef × row value on ``metric``, judged as ``kind``.

    ``a`` and ``b`` label the two sides for the report; ``missing`` says why the comparison
    could not even be formed (e.g. no rival row at all), in which case ``terms`` is empty.
    """

    metric: str
    a: str
    b: str
    kind: str
    terms: tuple[tuple[float, RowRef], ...]
    missing: str = ""


def pairwise(metric: str, kind: str, a: RowRef, b: RowRef, b_label: str | None = None) -> Contrast:
    """``a − b`` on ``metric``."""
    return Contrast(metric, a.label(), b_label or b.label(), kind, ((1.0, a), (-1.0, b)))


def bonferroni_level(m: int, alpha: float = ALPHA) -> float:
    """Confidence level of each of ``m`` comparisons that together keep a family-wise ``alpha``."""
    return 1.0 - alpha / max(m, 1)


def decide(kind: str, ci: list[float], margin: float | None) -> tuple[str, str]:
    """(verdict, reason) of one comparison from its oriented interval (module docstring)."""
    lo, hi = ci
    if kind == SUPERIORITY:
        return _decide(lo > 0, hi < 0, f"lower bound {lo:.4g} > 0", f"upper bound {hi:.4g} < 0")
    if kind == NON_INFERIORITY:
        return _decide(lo > -margin, hi < -margin, f"lower bound {lo:.4g} > −δ (δ = {margin:.4g})",
                       f"upper bound {hi:.4g} < −δ (δ = {margin:.4g})")
    if kind == EQUIVALENCE:
        return _decide(-margin < lo and hi < margin, lo > margin or hi < -margin,
                       f"[{lo:.4g}, {hi:.4g}] inside ±δ = ±{margin:.4g}",
                       f"[{lo:.4g}, {hi:.4g}] entirely outside ±δ = ±{margin:.4g}")
    raise ValueError(f"unknown comparison kind {kind!r}; use one of {SUPERIORITY}, "
                     f"{NON_INFERIORITY}, {EQUIVALENCE}")


def _decide(supported: bool, contradicted: bool, why_yes: str, why_no: str) -> tuple[str, str]:
    if supported:
        return SUPPORTED, why_yes
    if contradicted:
        return CONTRADICTED, why_no
    return INCONCLUSIVE, "the interval straddles the decision boundary"


def usable_metric(row: dict, name: str) -> tuple[dict | None, str]:
    """``(metric, "")`` when the row's metric is ok with finite value and replicates, else the reason."""
    metric = row.get("metrics", {}).get(name)
    if metric is None:
        return None, f"{name} was not scored on this row"
    if metric.get("status") != "ok":
        return None, f"{name} has status {metric.get('status')!r}, not 'ok'"
    value, reps = metric.get("value"), metric.get("replicates")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, f"{name} has no finite value"
    if not isinstance(reps, list) or len(reps) < 2:
        return None, f"{name} has no bootstrap replicates (a run with --bootstrap 0 cannot be judged)"
    if not np.all(np.isfinite(np.asarray(reps, np.float64))):
        return None, f"{name} has non-finite bootstrap replicates"
    return metric, ""


def oriented_contrast(terms: list[tuple[float, dict]]) -> tuple[float, np.ndarray] | str:
    """(point, replicates) of Σ coef × metric, positive = better; or why they cannot be formed."""
    directions = {bool(m.get("higher_is_better")) for _, m in terms}
    if len(directions) != 1:
        return "the rows disagree on the metric's direction"
    sizes = {len(m["replicates"]) for _, m in terms}
    if len(sizes) != 1:
        return (f"replicate counts differ ({sorted(sizes)}): the rows are not one run's paired "
                "bootstrap")
    sign = 1.0 if directions.pop() else -1.0
    point = sign * sum(c * m["value"] for c, m in terms)
    reps = sign * sum(c * np.asarray(m["replicates"], np.float64) for c, m in terms)
    return point, reps


def evaluate(contrast: Contrast, rows: list[dict], level: float, margin: float | None) -> dict:
    """The evidence record of one comparison: difference, interval, level, margin, verdict."""
    from metrics.intervals import bootstrap_interval

    needs_margin = contrast.kind != SUPERIORITY
    record = {"metric": contrast.metric, "a": contrast.a, "b": contrast.b, "kind": contrast.kind,
              "difference": None, "ci": None, "level": level,
              "margin": margin if needs_margin else None}
    formed = _resolve_terms(contrast, rows)
    if isinstance(formed, str):
        return {**record, "verdict": NOT_COMPUTED, "reason": formed}
    if needs_margin and margin is None:
        return {**record, "verdict": NOT_COMPUTED, "reason": "no margin δ for this metric (see margins)"}
    point, reps = formed
    ci = [float(x) for x in bootstrap_interval(point, reps, level)["ci"]]
    verdict, reason = decide(contrast.kind, ci, margin)
    return {**record, "difference": float(point), "ci": ci, "verdict": verdict, "reason": reason}


def _resolve_terms(contrast: Contrast, rows: list[dict]) -> tuple[float, np.ndarray] | str:
    if contrast.missing:
        return contrast.missing
    terms = []
    for coef, ref in contrast.terms:
        row, why = ref.find(rows)
        if row is None:
            return why
        metric, why = usable_metric(row, contrast.metric)
        if metric is None:
            return f"{ref.label()}: {why}"
        terms.append((coef, metric))
    return oriented_contrast(terms)


def reference_margin(rows: list[dict], reference: dict | None, metric: str) -> dict:
    """δ of ``metric`` by the rule of the module docstring, with the rows it comes from."""
    if not reference or "system" not in reference or "sampler" not in reference:
        return {"delta": None, "reason": "results.json names no resolution reference "
                "(protocol.resolution {system, sampler})"}
    name = f"{reference['system']}/{reference['sampler']}"
    ref = sorted((r for r in rows if (r.get("system"), r.get("sampler"))
                  == (reference["system"], reference["sampler"])), key=lambda r: r["steps"])
    base = {"rule": MARGIN_RULE.format(ref=name), "delta": None}
    if len(ref) < 2 or ref[0]["steps"] == ref[-1]["steps"]:
        return {**base, "reason": f"fewer than two step counts of {name} in the run"}
    (fewest, why_f), (most, why_m) = usable_metric(ref[0], metric), usable_metric(ref[-1], metric)
    if fewest is None or most is None:
        return {**base, "reason": f"{name}: {why_f or why_m}"}
    delta = MARGIN_FRACTION * abs(most["value"] - fewest["value"])
    return {**base, "delta": float(delta), "reason": "",
            "fewest": f"{name}/{ref[0]['steps']}", "most": f"{name}/{ref[-1]['steps']}"}


def combine_metric(evidence: list[dict]) -> dict:
    """One metric's verdict on a claim from its comparisons."""
    if not evidence:
        return {"verdict": INCONCLUSIVE, "reason": "nothing to compare"}
    verdicts = [e["verdict"] for e in evidence]
    if all(v == SUPPORTED for v in verdicts):
        return {"verdict": SUPPORTED, "reason": f"all {len(verdicts)} comparison(s) supported"}
    bad = [f"{e['a']} vs {e['b']}" for e in evidence if e["verdict"] == CONTRADICTED]
    if bad:
        return {"verdict": CONTRADICTED, "reason": "contradicted by " + "; ".join(bad)}
    open_ = [f"{e['a']} vs {e['b']}: {e['verdict']} ({e['reason']})"
             for e in evidence if e["verdict"] != SUPPORTED]
    return {"verdict": INCONCLUSIVE, "reason": "undecided: " + "; ".join(open_)}


def combine_claim(per_metric: dict[str, dict]) -> tuple[str, str]:
    """(verdict, reason) of a claim from its metrics' verdicts (module docstring)."""
    by = {v: [m for m, d in per_metric.items() if d["verdict"] == v]
          for v in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)}
    if per_metric and len(by[SUPPORTED]) == len(per_metric):
        return SUPPORTED, f"supported on every metric ({', '.join(by[SUPPORTED])})"
    if by[CONTRADICTED] and not by[SUPPORTED]:
        rest = f"; undecided on {', '.join(by[INCONCLUSIVE])}" if by[INCONCLUSIVE] else ""
        return CONTRADICTED, f"contradicted on {', '.join(by[CONTRADICTED])}{rest}"
    if by[SUPPORTED]:
        parts = [f"{v} on {', '.join(ms)}" for v, ms in by.items() if ms]
        return INCONCLUSIVE, "metrics disagree: " + "; ".join(parts)
    return INCONCLUSIVE, "no metric decides the claim: every metric is inconclusive"
