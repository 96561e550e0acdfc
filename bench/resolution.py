"""Does a metric resolve at a protocol's size? Pure functions from finished rows to verdicts.

A metric *resolves* when it separates the reference system's fewest and most steps (the
teacher with Euler at 1 vs 16 steps on ``sfx-mini``) beyond its sampling uncertainty, in the
direction prompt adherence shows (more steps = better). The test is a **paired bootstrap** of
the difference: every row's bootstrap draws the same item indices (the engine seeds a metric's
replicates by (seed, metric name) only, and the rows share item order and size), so replicate
b of the two rows sees the same prompts and noise, and ``most_b − fewest_b`` is a replicate of
the difference. Its interval (same method as every CI, ``metrics.intervals``) must exclude 0.
Without replicates (``bootstrap = 0``) the rule falls back to non-overlapping CIs.

The verdict also carries both rows' CI half-widths, the separation ``|difference| /
(h_fewest + h_most)`` and the rank agreement with prompt adherence over every row of the
reference system: Spearman's ρ between the metric (sign-flipped for ↓ metrics) and adherence.
"""
from __future__ import annotations

import math

import numpy as np

RESOLVES, REVERSED, UNRESOLVED, NOT_COMPUTED = ("resolves", "resolves, against adherence",
                                                 "does not resolve", "not computed")
ADHERENCE = "adherence"


def reference_rows(rows: list[dict], system: str, sampler: str) -> list[dict]:
    """The rows of the reference (system, sampler), sorted by steps."""
    return sorted((r for r in rows if r["system"] == system and r["sampler"] == sampler),
                  key=lambda r: r["steps"])


def half_width(metric: dict) -> float | None:
    lo, hi = metric.get("ci_low"), metric.get("ci_high")
    return None if lo is None or hi is None else (hi - lo) / 2


def difference_interval(fewest: dict, most: dict, level: float = 0.95) -> list[float] | None:
    """Paired-bootstrap interval of ``most − fewest`` from the two rows' replicates."""
    from metrics.intervals import bootstrap_interval

    a, b = fewest.get("replicates"), most.get("replicates")
    if not a or not b or len(a) != len(b):
        return None
    reps = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    return bootstrap_interval(most["value"] - fewest["value"], reps, level)["ci"]


def verdict(fewest: dict, most: dict) -> dict:
    """Resolution of one metric between the fewest- and most-steps rows (both status ok)."""
    diff = most["value"] - fewest["value"]
    h = [half_width(fewest), half_width(most)]
    ci = difference_interval(fewest, most)
    if ci is not None:
        separated = ci[0] > 0 or ci[1] < 0
        rule = "rule: the paired-bootstrap 95 % CI of the difference must exclude 0"
    else:
        separated = None not in h and abs(diff) > h[0] + h[1]
        rule = "rule: the two CIs must not overlap (no replicates for a paired test)"
    better = diff > 0 if most["higher_is_better"] else diff < 0
    name = (RESOLVES if better else REVERSED) if separated else UNRESOLVED
    sep = abs(diff) / (h[0] + h[1]) if None not in h and h[0] + h[1] > 0 else None
    return {"verdict": name, "difference": diff, "difference_ci": ci, "half_widths": h,
            "separation": sep, "rule": rule, "reason": REASONS[name] + f" ({rule})"}


REASONS = {RESOLVES: "separated, and more steps score better",
           REVERSED: "separated, but more steps score worse than fewer (against adherence)",
           UNRESOLVED: "not separated: the difference is within the uncertainty"}


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's ρ (average ranks for ties); None when fewer than 3 points or a constant side."""
    if len(x) < 3:
        return None
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if np.std(rx) == 0 or np.std(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def rank_agreement(rows: list[dict], name: str) -> float | None:
    """ρ between the metric (oriented so that higher = better) and adherence over ``rows``."""
    pairs = [(_ok(r, name), _ok(r, ADHERENCE)) for r in rows]
    pairs = [(m, a) for m, a in pairs if m is not None and a is not None]
    if not pairs or name == ADHERENCE:
        return None if not pairs else 1.0
    sign = 1.0 if _direction(rows, name) else -1.0
    return spearman([sign * m["value"] for m, _ in pairs], [a["value"] for _, a in pairs])


def _ok(row: dict, name: str) -> dict | None:
    m = row.get("metrics", {}).get(name)
    ok = m and m.get("status") == "ok" and isinstance(m.get("value"), (int, float))
    return m if ok and math.isfinite(m["value"]) else None


def _direction(rows: list[dict], name: str) -> bool:
    return next(r["metrics"][name]["higher_is_better"] for r in rows if name in r.get("metrics", {}))


def resolution(rows: list[dict], metric_names: list[str], system: str, sampler: str) -> dict:
    """Per metric: verdict, difference and its CI, half-widths, separation, rank agreement."""
    ref = reference_rows(rows, system, sampler)
    ranked = [r for r in rows if r["system"] == system]  # every sampler's rows of the system
    out = {}
    for name in metric_names:
        if len(ref) < 2:
            out[name] = {"verdict": NOT_COMPUTED, "reason": f"fewer than 2 {system}/{sampler} rows"}
            continue
        fewest, most = _ok(ref[0], name), _ok(ref[-1], name)
        base = {"fewest": ref[0]["row_id"], "most": ref[-1]["row_id"],
                "rank_agreement": rank_agreement(ranked, name)}
        if fewest is None or most is None:
            out[name] = {**base, "verdict": NOT_COMPUTED, "reason": "the metric is not ok in both rows"}
            continue
        out[name] = {**base, **verdict(fewest, most)}
    return out


def resolving(resolution_table: dict) -> list[str]:
    """Names of the metrics whose verdict is ``resolves``."""
    return [name for name, v in resolution_table.items() if v.get("verdict") == RESOLVES]
