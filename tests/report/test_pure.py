"""Pure functions of the report: floor-to-ceiling position, CI-separated best, log ticks, grid shape."""
from __future__ import annotations

import math

import pytest

from bench.report.anchors import anchor_label, anchor_position, row_position
from bench.report.best import separated_best
from bench.report.cells import format_metric
from bench.report.grid import grid_shape, panel_title, wrap_name
from bench.report.plots import log_ticks, pareto_front, tick_label


@pytest.mark.parametrize(("value", "floor", "ceiling", "up", "expected"), [
    (11.9, -1.0, 9.1, False, 12.9 / 10.1),  # kad@aisfx of the issue: teacher at 1 step, beyond the ceiling
    (4.05, -1.0, 9.1, False, 0.5),  # halfway from real towards the decoder's score
    (-1.0, -1.0, 9.1, False, 0.0),  # the floor itself
    (9.1, -1.0, 9.1, False, 1.0),  # the ceiling itself
    (0.7, 0.9, 0.6, True, 2.0 / 3.0),  # higher-is-better: the ceiling lies below the floor
    (0.95, 0.9, 0.6, True, -1.0 / 6.0),  # better than the real clips: negative
    (0.3, 0.9, 0.6, True, 2.0),  # worse than the ceiling: > 1
])
def test_anchor_position_closed_forms(value, floor, ceiling, up, expected):
    assert anchor_position(value, floor, ceiling, up) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("floor", "ceiling", "up"), [
    (1.0, 1.0, False),  # no span
    (5.0, 1.0, False),  # ↓ metric whose ceiling scores better than the floor
    (0.6, 0.9, True),  # ↑ metric whose ceiling scores better than the floor
    (None, 1.0, True), (1.0, None, True),
])
def test_anchor_position_is_undefined_without_a_worse_ceiling(floor, ceiling, up):
    assert anchor_position(0.5, floor, ceiling, up) is None
    assert anchor_position(None, 0.0, 1.0, False) is None


def test_floor_position_is_not_negative_zero():
    assert math.copysign(1.0, anchor_position(0.9, 0.9, 0.8, True)) == 1.0


def _row(run: str, role: str, value, status: str = "ok") -> dict:
    return {"run": run, "role": role, "system": role, "metrics": {
        "m": {"value": value, "status": status, "higher_is_better": False}}}


def test_row_position_uses_its_own_runs_anchors():
    anchors = {("a", "floor"): _row("a", "floor", 0.0), ("a", "ceiling"): _row("a", "ceiling", 2.0),
               ("b", "floor"): _row("b", "floor", 0.0), ("b", "ceiling"): _row("b", "ceiling", 4.0)}
    assert row_position(_row("a", "system", 1.0), "m", anchors) == pytest.approx(0.5)
    assert row_position(_row("b", "system", 1.0), "m", anchors) == pytest.approx(0.25)
    assert row_position(_row("c", "system", 1.0), "m", anchors) is None  # run without anchors
    assert row_position(_row("a", "system", None, "error"), "m", anchors) is None
    assert row_position(_row("a", "system", 1.0), "other", anchors) is None


def test_anchor_labels_always_name_the_role():
    assert anchor_label({"role": "floor", "system": "real"}) == "real clips — floor"
    assert anchor_label({"role": "ceiling", "system": "autoencoder"}) == "autoencoder + Griffin-Lim — ceiling"
    assert anchor_label({"role": "floor", "label": "real clips (floor)"}) == "real clips (floor)"
    assert anchor_label({"role": "ceiling", "label": "AE clips"}) == "AE clips — ceiling"


@pytest.mark.parametrize(("entries", "up", "expected"), [
    ([(0.5, 0.45, 0.55), (1.0, 0.9, 1.1), (1.25, 1.1, 1.4)], False, 0),  # ↓: best CI below all others
    ([(0.5, 0.45, 0.95), (1.0, 0.9, 1.1)], False, None),  # overlapping CIs
    ([(0.5, 0.45, 0.9), (1.0, 0.9, 1.1)], False, None),  # touching CIs count as overlap
    ([(0.8, 0.75, 0.85), (0.6, 0.5, 0.7), None, (0.7, 0.65, 0.74)], True, 0),  # ↑, a row without value
    ([(0.8, 0.75, 0.85), (0.8, 0.75, 0.85)], True, None),  # tie for best
    ([(0.8, None, None), (0.1, 0.0, 0.2)], True, None),  # best without a CI
    ([(0.8, 0.75, 0.85), (0.1, None, None)], True, None),  # another row without a CI
    ([(0.8, 0.75, 0.85)], True, None),  # no rest to separate from
    ([None, None], True, None),
])
def test_separated_best(entries, up, expected):
    assert separated_best(entries, up) == expected


def test_metric_cell_shows_flags():
    fd = {"value": 401.0, "ci_low": 380.0, "ci_high": 420.0, "status": "ok", "higher_is_better": False,
          "flags": ["n<=d"]}
    assert format_metric(fd) == "401 [380, 420] (n≤d)"
    assert format_metric({**fd, "flags": ["n<=d", "other"]}) == "401 [380, 420] (n≤d, other)"
    assert format_metric({**fd, "flags": []}) == "401 [380, 420]"


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (15.87 / 1.25, 31.0 * 1.25, [20.0, 30.0]),  # the sfx-mini RTF range: used to overprint
    (0.5, 400.0, [1.0, 10.0, 100.0]),
    (0.02, 300.0, [0.1, 1.0, 10.0, 100.0]),  # 1-2-5 and 1-3 series too dense: decades
    (11.0, 99.0, [20.0, 50.0]),
    (0.11, 0.99, [0.2, 0.5]),
    (1e-3, 1e9, [1e-3, 1e0, 1e3, 1e6, 1e9]),  # 13 decades: every third
    (21.0, 29.0, [21.0, 25.0, 29.0]),  # no round value inside: ends and middle, 2 digits
    (0.25, 0.35, [0.25, 0.3, 0.35]),
])
def test_log_ticks_are_few_and_round(lo, hi, expected):
    assert log_ticks(lo, hi) == pytest.approx(expected)


@pytest.mark.parametrize(("lo", "hi"), [(15.87, 31.0), (3.0, 3.0), (21.0, 29.0), (0.013, 7.9e4), (1.0, 1e30)])
def test_log_ticks_stay_between_two_and_five(lo, hi):
    ticks = log_ticks(lo, hi)
    assert 1 <= len(ticks) <= 5 and ticks == sorted(ticks)
    assert all(lo * 0.9 <= t <= hi * 1.1 for t in ticks)
    assert len(set(tick_label(t) for t in ticks)) == len(ticks)  # distinct plain labels


def test_log_ticks_reject_bad_ranges_and_label_plainly():
    for lo, hi in ((0.0, 1.0), (-1.0, 1.0), (2.0, 1.0), (1.0, math.inf)):
        with pytest.raises(ValueError, match="0 < lo <= hi"):
            log_ticks(lo, hi)
    assert [tick_label(t) for t in (0.3, 20.0, 300.0, 1e5)] == ["0.3", "20", "300", "100000"]


def test_grid_shape_and_panel_titles():
    assert [grid_shape(n) for n in (1, 3, 4, 5, 20)] == [(1, 1), (1, 3), (1, 4), (2, 4), (5, 4)]
    with pytest.raises(ValueError):
        grid_shape(0)
    assert panel_title("kad@aisfx", False, None) == "kad@aisfx ↓"
    assert panel_title("kad@aisfx", False, "⚠ does not resolve") == "kad@aisfx ↓\n⚠ does not resolve"
    kl = "kl@yamnet:pair=prompt:unpaired=exclude ↓"
    assert wrap_name(kl) == ["kl@yamnet:pair=prompt:", "unpaired=exclude ↓"]  # broken after a colon
    assert wrap_name("kad@aisfx[ae-ref] ↓") == ["kad@aisfx[ae-ref] ↓"]  # never broken at its hyphen
    assert [len(line) for line in wrap_name("a" * 50)] == [34, 16]


def test_pareto_front_closed_form():
    points = [(1.0, 0.5), (2.0, 0.4), (3.0, 0.45), (4.0, 0.1), (0.5, 0.9), (2.0, 0.3)]
    assert pareto_front(points, higher_is_better=True) == [4, 0, 2, 3]
    lower = [(1.0, 1.0), (2.0, 2.0), (3.0, 1.5), (4.0, 3.0)]
    assert pareto_front(lower, higher_is_better=False) == [0, 2, 3]
    assert pareto_front(lower, higher_is_better=True) == [3]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)], higher_is_better=True) == [0, 1]
