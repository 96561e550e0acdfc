"""Which value of a metric column deserves "best": only one the confidence intervals separate.

The best system row (highest value for ↑ metrics, lowest for ↓) is highlighted only when its CI
clears the CI of *every* other system row in the metric's direction: for ↑ its lower bound is
above each other row's upper bound, for ↓ its upper bound is below each other row's lower bound
(touching intervals overlap). With a tie for the best value, a row without a CI, or fewer than
two rows with a value, nothing is highlighted: the data cannot tell the best from the rest.
"""
from __future__ import annotations

Entry = tuple[float, float | None, float | None]  # (value, ci_low, ci_high)


def separated_best(entries: list[Entry | None], higher_is_better: bool) -> int | None:
    """Index of the best entry when its CI separates it from all others, else None (None entries skipped)."""
    present = [(i, e) for i, e in enumerate(entries) if e is not None]
    if len(present) < 2 or any(lo is None or hi is None for _, (_, lo, hi) in present):
        return None
    sign = 1.0 if higher_is_better else -1.0
    best_i, best = max(present, key=lambda p: sign * p[1][0])
    if sum(1 for _, e in present if e[0] == best[0]) > 1:
        return None
    return best_i if all(_clears(best, e, higher_is_better) for i, e in present if i != best_i) else None


def _clears(best: Entry, other: Entry, higher_is_better: bool) -> bool:
    """True when ``best``'s interval lies strictly on the better side of ``other``'s."""
    return best[1] > other[2] if higher_is_better else best[2] < other[1]


def metric_entry(row: dict, metric: str) -> Entry | None:
    """(value, ci_low, ci_high) of an 'ok' metric of ``row``, else None."""
    m = row["metrics"].get(metric)
    if not m or m.get("status") != "ok":
        return None
    return m["value"], m.get("ci_low"), m.get("ci_high")
