"""What the report leads with: headline metrics, resolution marks, Pareto axis, fallbacks for old runs."""
from __future__ import annotations

import pytest

from bench.report import ReportError, build_view, load_runs, merge_rows

from .fakes import PARETO, make_run


def view_of(paths, quality=None):
    runs = load_runs(paths, allow_mixed=True)
    return build_view(runs, merge_rows(runs), quality)


def test_headline_keeps_resolving_metrics_and_marks_the_others(tmp_path):
    view = view_of([make_run(tmp_path)])
    assert view.headline == ["kad@aisfx[ae-ref]", "fd@aisfx", "adherence"]
    assert view.left_out == {"kad@aisfx": "does not resolve"}
    assert view.metrics[:3] == view.headline and set(view.metrics) == {
        "kad@aisfx[ae-ref]", "fd@aisfx", "adherence", "kad@aisfx", "clap@clap-laion-audio"}
    assert view.mark("kad@aisfx") == "⚠ does not resolve"
    assert view.mark("clap@clap-laion-audio") == "⚠ resolution not computed"
    assert view.mark("fd@aisfx") is None
    assert view.pareto == PARETO and view.notes == []


def test_old_runs_fall_back_and_say_so(tmp_path):
    view = view_of([make_run(tmp_path, modern=False)])
    assert view.headline == ["fd@aisfx", "adherence", "clap@clap-laion-audio"]
    assert view.verdicts == {} and view.mark("fd@aisfx") is None
    text = " ".join(view.notes)
    assert "no headline metrics" in text and "no resolution verdicts" in text and "no floor/ceiling" in text
    assert view.pareto == "adherence"  # not the first column


def test_a_metric_resolves_only_if_every_run_says_so(tmp_path):
    def unresolve(data):
        data["resolution"]["fd@aisfx"]["verdict"] = "resolves, against adherence"
        del data["resolution"]["adherence"]
    view = view_of([make_run(tmp_path, "a"), make_run(tmp_path, "b", edit=unresolve)])
    assert view.headline == ["kad@aisfx[ae-ref]"]
    assert view.left_out["fd@aisfx"] == "resolves, against adherence"
    assert view.left_out["adherence"] == "not computed"  # missing from run b's verdicts
    assert view.mark("fd@aisfx") == "⚠ resolves, against adherence"


def test_pareto_metric_order_of_choice(tmp_path):
    def no_pareto(data):
        del data["protocol"]["pareto_metric"]
    assert view_of([make_run(tmp_path, "a", edit=no_pareto)]).pareto == "kad@aisfx[ae-ref]"  # first headline

    def unknown_pareto(data):
        data["protocol"]["pareto_metric"] = "gone@nowhere"
    view = view_of([make_run(tmp_path, "b", edit=unknown_pareto)])
    assert view.pareto == "kad@aisfx[ae-ref]" and "'gone@nowhere' is not in these runs" in view.notes[0]
    assert view_of([make_run(tmp_path, "c")], quality="adherence").pareto == "adherence"
    with pytest.raises(ReportError, match="--quality 'nope' is not a metric"):
        view_of([make_run(tmp_path, "d")], quality="nope")


def test_headline_metric_missing_from_the_runs_is_left_out(tmp_path):
    def extra(data):
        data["protocol"]["headline"].append("ccds@aisfx")
    view = view_of([make_run(tmp_path, edit=extra)])
    assert view.left_out["ccds@aisfx"] == "not in these runs" and "ccds@aisfx" not in view.headline
