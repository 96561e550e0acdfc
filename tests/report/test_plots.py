"""Figures: Pareto plot on the protocol's metric with legible log ticks, the small-multiples grid,
spectrograms, and notes instead of exceptions when data is missing."""
from __future__ import annotations

import pytest

from bench.report import build_view, load_runs, merge_rows
from bench.report.grid import metric_grid
from bench.report.plots import figure, log_ticks, quality_vs_rtf, report_plots, set_log_x
from bench.report.spectro import spectrograms

from .fakes import make_run


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    runs = load_runs([make_run(tmp_path_factory.mktemp("plots"))])
    rows = merge_rows(runs)
    return rows, build_view(runs, rows)


def test_log_rtf_axis_has_few_plain_labels_and_no_minor_labels():
    fig = figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.plot([15.87, 31.0], [1.0, 2.0])
    set_log_x(ax, [15.87, 31.0])
    fig.canvas.draw()
    majors = [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert majors == ["20", "30"]
    assert list(ax.get_xticks()) == log_ticks(15.87 / 1.25, 31.0 * 1.25)
    assert [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()] == []


def test_report_plots_follow_the_view(loaded):
    rows, view = loaded
    plots = report_plots(rows, view)
    assert plots[0].title == "kad@aisfx[ae-ref] vs RTF (Pareto front)" and plots[0].svg.startswith("<svg")
    assert plots[1].title == "metrics vs steps (not drawn, no 'ok' value: clap@clap-laion-audio)"
    assert plots[1].wide and plots[1].svg.count("<g id=\"axes_") == 4  # one panel per drawable metric
    assert [p.title for p in plots[2:]] == ["log-mel spectrograms: student", "log-mel spectrograms: teacher"]
    assert all(p.png[:4] == b"\x89PNG" for p in plots[2:])  # anchors get no spectrogram row


def test_grid_draws_anchor_lines_and_marks(loaded):
    rows, view = loaded
    svg = metric_grid(rows, view).svg
    assert svg.count("<g id=\"axes_") == 4
    without_anchors = [r for r in rows if r["role"] == "system"]
    assert metric_grid(without_anchors, view).svg.count("<path") < svg.count("<path")


def test_plots_skip_with_a_note_when_data_is_missing(loaded, tmp_path):
    rows, view = loaded
    broken = [dict(r, run_dir=tmp_path) for r in rows]  # audio paths now point nowhere
    assert spectrograms(broken, "teacher").note.startswith("skipped")
    assert spectrograms(rows, "nobody").note.startswith("skipped")
    assert spectrograms(rows, "real").note.startswith("skipped")  # anchors are no system
    no_speed = [dict(r, speed={}) for r in rows]
    assert quality_vs_rtf(no_speed, "adherence").note.startswith("skipped")
    assert quality_vs_rtf(rows, "nope").note == "no metric 'nope' in these runs"
    no_ok = [dict(r, metrics={"adherence": {"status": "error", "higher_is_better": True}}) for r in rows]
    assert metric_grid(no_ok, build_view([], no_ok)).note.startswith("skipped")
    odd = "a $\\frac{$ b"  # malformed mathtext must be drawn literally
    dollars = [dict(r, system=odd, audio=[dict(r["audio"][0], prompt=odd)]) for r in rows]
    assert spectrograms(dollars, odd).png and quality_vs_rtf(dollars, "adherence").svg
