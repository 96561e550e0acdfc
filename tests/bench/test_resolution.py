"""Whether a metric resolves: paired-bootstrap verdicts, fallbacks and rank agreement (closed forms)."""
from __future__ import annotations

import numpy as np
import pytest

from bench.resolution import (
    NOT_COMPUTED,
    RESOLVES,
    REVERSED,
    UNRESOLVED,
    rank_agreement,
    resolution,
    resolving,
    spearman,
    verdict,
)


def metric(value, hib=False, half=1.0, replicates=None) -> dict:
    m = {"value": value, "ci_low": value - half, "ci_high": value + half, "higher_is_better": hib,
         "status": "ok"}
    if replicates is not None:
        m["replicates"] = list(replicates)
    return m


def row(steps, metrics, sampler="euler", system="teacher") -> dict:
    return {"row_id": f"{system}/{sampler}/{steps}", "system": system, "sampler": sampler, "steps": steps,
            "metrics": metrics}


def test_paired_replicates_resolve_a_difference_that_overlapping_cis_hide():
    """Shared draws make the rows' replicates move together: their difference is precise."""
    common = np.random.default_rng(0).normal(0, 1.0, 200)  # the draw-to-draw spread, shared
    fewest = metric(10.0, half=2.0, replicates=10.0 + common)
    most = metric(9.0, half=2.0, replicates=9.0 + common + np.random.default_rng(1).normal(0, 0.05, 200))
    v = verdict(fewest, most)
    assert v["verdict"] == RESOLVES and v["difference"] == -1.0
    assert v["difference_ci"][1] < 0 and v["separation"] == pytest.approx(0.25)
    assert "paired" in v["rule"]


def test_independent_noise_of_the_same_size_does_not_resolve():
    a, b = np.random.default_rng(0).normal(0, 1, 200), np.random.default_rng(1).normal(0, 1, 200)
    v = verdict(metric(10.0, replicates=10 + a), metric(9.9, replicates=9.9 + b))
    assert v["verdict"] == UNRESOLVED


def test_a_separated_difference_against_the_steps_direction_is_reported_as_such():
    common = np.random.default_rng(0).normal(0, 0.1, 100)
    v = verdict(metric(0.8, hib=True, replicates=0.8 + common),
                metric(0.5, hib=True, replicates=0.5 + common))
    assert v["verdict"] == REVERSED


def test_without_replicates_the_rule_is_non_overlapping_cis():
    assert verdict(metric(10.0, half=1.0), metric(7.9, half=1.0))["verdict"] == RESOLVES
    v = verdict(metric(10.0, half=1.0), metric(8.1, half=1.0))
    assert v["verdict"] == UNRESOLVED and "overlap" in v["rule"] and v["reason"].startswith("not separated")


def test_spearman_closed_forms():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_rank_agreement_orients_lower_is_better_metrics():
    rows = [row(s, {"adherence": metric(a, hib=True), "kad": metric(k)})
            for s, a, k in ((1, 0.5, 9.0), (2, 0.6, 7.0), (4, 0.7, 5.0))]
    assert rank_agreement(rows, "kad") == pytest.approx(1.0)  # lower KAD where adherence is higher


def test_resolution_table_uses_the_reference_rows_fewest_and_most_steps():
    rows = [row(s, {"adherence": metric(a, hib=True, half=0.01)}) for s, a in ((16, 0.7), (1, 0.5), (4, 0.6))]
    rows.append(row(8, {"adherence": metric(0.9, hib=True)}, sampler="heun"))
    table = resolution(rows, ["adherence", "fd"], "teacher", "euler")
    adherence = table["adherence"]
    assert (adherence["fewest"], adherence["most"]) == ("teacher/euler/1", "teacher/euler/16")
    assert table["adherence"]["verdict"] == RESOLVES and table["fd"]["verdict"] == NOT_COMPUTED
    assert resolving(table) == ["adherence"]
    assert resolution(rows[:1], ["adherence"], "teacher", "euler")["adherence"]["verdict"] == NOT_COMPUTED
