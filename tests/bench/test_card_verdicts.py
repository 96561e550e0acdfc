"""Verdict primitives of reproduction cards, on hand-made paired replicates with closed-form intervals.

Replicates of a difference spaced evenly on d + [−w, w] (B = 101) have median d and
``np.quantile`` p-quantile d − w + 2wp, so the interval at level L is exactly d ± w·L.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench.cards.base import RowRef
from bench.cards.verdicts import (
    CONTRADICTED,
    EQUIVALENCE,
    INCONCLUSIVE,
    NON_INFERIORITY,
    NOT_COMPUTED,
    SUPERIORITY,
    SUPPORTED,
    bonferroni_level,
    combine_claim,
    combine_metric,
    decide,
    evaluate,
    pairwise,
    reference_margin,
)
from tests.bench._card_runs import metric

B = 101
SPREAD = np.linspace(-1.0, 1.0, B)


def two_rows(d: float, w: float, higher_is_better: bool = True, name: str = "m") -> list[dict]:
    """Rows a and b whose paired difference a − b has replicates d + w·SPREAD (raw, not oriented)."""
    base = np.random.default_rng(1).normal(5.0, 1.0, B)  # shared noise: cancels in the difference
    a = metric(5.0 + d, base + d + w * SPREAD, higher_is_better)
    b = metric(5.0, base, higher_is_better)
    return [{"system": "s", "sampler": "euler", "steps": 1, "guidance": 1.0, "metrics": {name: a}},
            {"system": "s", "sampler": "euler", "steps": 1, "guidance": 2.0, "metrics": {name: b}}]


A, B_REF = RowRef("s", "euler", 1, 1.0), RowRef("s", "euler", 1, 2.0)


def judged(d, w, kind, margin=None, level=0.9, up=True) -> dict:
    return evaluate(pairwise("m", kind, A, B_REF), two_rows(d, w, up), level, margin)


def test_paired_interval_is_the_closed_form_one():
    e = judged(0.5, 0.2, SUPERIORITY, level=0.9)
    assert e["difference"] == pytest.approx(0.5)
    assert e["ci"] == pytest.approx([0.5 - 0.2 * 0.9, 0.5 + 0.2 * 0.9])
    assert (e["a"], e["b"], e["level"], e["margin"]) == ("s/euler/1 cfg 1", "s/euler/1 cfg 2", 0.9, None)


@pytest.mark.parametrize("d, verdict", [(0.5, SUPPORTED), (-0.5, CONTRADICTED), (0.1, INCONCLUSIVE)])
def test_superiority(d, verdict):
    assert judged(d, 0.2, SUPERIORITY)["verdict"] == verdict  # CI = d ± 0.18


@pytest.mark.parametrize("d, verdict", [(0.0, SUPPORTED), (-0.5, CONTRADICTED), (-0.2, INCONCLUSIVE)])
def test_non_inferiority_with_margin(d, verdict):
    assert judged(d, 0.1, NON_INFERIORITY, margin=0.2)["verdict"] == verdict  # CI = d ± 0.09 vs −0.2


@pytest.mark.parametrize("d, verdict", [(0.0, SUPPORTED), (0.5, CONTRADICTED), (-0.5, CONTRADICTED),
                                        (0.15, INCONCLUSIVE)])
def test_equivalence_within_margin(d, verdict):
    assert judged(d, 0.1, EQUIVALENCE, margin=0.2)["verdict"] == verdict


def test_lower_is_better_metrics_are_oriented_so_positive_is_better():
    e = judged(-0.5, 0.2, SUPERIORITY, up=False)  # a is 0.5 lower on a ↓ metric: a is better
    assert e["difference"] == pytest.approx(0.5) and e["verdict"] == SUPPORTED
    assert e["ci"] == pytest.approx([0.5 - 0.18, 0.5 + 0.18])


def test_decide_reasons_name_the_bound_and_unknown_kinds_are_refused():
    assert decide(NON_INFERIORITY, [-0.1, 0.3], 0.2) == (SUPPORTED, "lower bound -0.1 > −δ (δ = 0.2)")
    assert decide(SUPERIORITY, [-0.1, 0.3], None)[0] == INCONCLUSIVE
    with pytest.raises(ValueError, match="unknown comparison kind 'better'"):
        decide("better", [0.0, 1.0], None)


def test_bonferroni_level():
    assert bonferroni_level(1) == pytest.approx(0.95)
    assert bonferroni_level(27) == pytest.approx(1 - 0.05 / 27)


@pytest.mark.parametrize("change, reason", [
    (lambda rows: rows.pop(), "no row s/euler/1 cfg 2 in the run"),
    (lambda rows: rows[0]["metrics"]["m"].update(status="unavailable"), "has status 'unavailable'"),
    (lambda rows: rows[0]["metrics"]["m"].pop("replicates"), "has no bootstrap replicates"),
    (lambda rows: rows[0]["metrics"]["m"].update(replicates=[1.0] * 7), "replicate counts differ"),
])
def test_missing_rows_or_metrics_are_not_computed_with_the_reason(change, reason):
    rows = two_rows(0.5, 0.2)
    change(rows)
    e = evaluate(pairwise("m", SUPERIORITY, A, B_REF), rows, 0.95, None)
    assert e["verdict"] == NOT_COMPUTED and reason in e["reason"]
    assert e["difference"] is None and e["ci"] is None


def test_a_margin_kind_without_margin_is_not_computed():
    assert judged(0.0, 0.1, EQUIVALENCE, margin=None)["verdict"] == NOT_COMPUTED


def teacher_rows(values: dict[int, float], up: bool = True) -> list[dict]:
    return [{"system": "teacher", "sampler": "euler", "steps": s,
             "metrics": {"m": metric(v, v + SPREAD, up)}} for s, v in values.items()]


def test_margin_is_a_tenth_of_the_teachers_fewest_to_most_steps_gain():
    rows = teacher_rows({16: 2.0, 1: 7.0, 4: 1.0}, up=False)  # unsorted on purpose
    m = reference_margin(rows, {"system": "teacher", "sampler": "euler"}, "m")
    assert m["delta"] == pytest.approx(0.5) and (m["fewest"], m["most"]) == ("teacher/euler/1",
                                                                            "teacher/euler/16")
    assert "0.1 ×" in m["rule"] and "teacher/euler" in m["rule"]


def test_margin_unavailable_says_why():
    ref = {"system": "teacher", "sampler": "euler"}
    assert "fewer than two step counts" in reference_margin(teacher_rows({1: 1.0}), ref, "m")["reason"]
    assert "names no resolution reference" in reference_margin(teacher_rows({1: 1.0}), None, "m")["reason"]
    assert reference_margin(teacher_rows({1: 1.0, 4: 2.0}), ref, "other")["delta"] is None


def ev(verdict: str) -> dict:
    return {"verdict": verdict, "a": "x", "b": "y", "reason": "r"}


def test_a_metric_is_supported_only_when_all_comparisons_are_and_contradicted_by_any():
    assert combine_metric([ev(SUPPORTED), ev(SUPPORTED)])["verdict"] == SUPPORTED
    assert combine_metric([ev(SUPPORTED), ev(NOT_COMPUTED), ev(CONTRADICTED)])["verdict"] == CONTRADICTED
    undecided = combine_metric([ev(SUPPORTED), ev(NOT_COMPUTED)])
    assert undecided["verdict"] == INCONCLUSIVE and "not computed (r)" in undecided["reason"]
    assert combine_metric([])["verdict"] == INCONCLUSIVE


@pytest.mark.parametrize("verdicts, expected, words", [
    ((SUPPORTED, SUPPORTED), SUPPORTED, "every metric"),
    ((CONTRADICTED, INCONCLUSIVE), CONTRADICTED, "contradicted on m0; undecided on m1"),
    ((SUPPORTED, CONTRADICTED), INCONCLUSIVE, "metrics disagree: supported on m0; contradicted on m1"),
    ((SUPPORTED, INCONCLUSIVE), INCONCLUSIVE, "metrics disagree"),
    ((INCONCLUSIVE, INCONCLUSIVE), INCONCLUSIVE, "every metric is inconclusive"),
])
def test_metrics_combine_into_the_claims_verdict(verdicts, expected, words):
    verdict, reason = combine_claim({f"m{i}": {"verdict": v} for i, v in enumerate(verdicts)})
    assert verdict == expected and words in reason


def test_evidence_holds_no_nan():
    e = judged(0.5, 0.2, SUPERIORITY)
    assert all(math.isfinite(x) for x in [e["difference"], *e["ci"], e["level"]])
