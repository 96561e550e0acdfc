"""The regression gate: closed-form verdicts, baselines from runs, and the CLI's exit codes."""
from __future__ import annotations

import copy
import json

import pytest

from bench.__main__ import main
from bench.baseline import make_baseline
from bench.check import (
    BaselineError,
    compare,
    exit_code,
    family_scale,
    format_table,
    judge,
    load_baseline,
    slack_for,
    summary,
)


def metric(value, hib, status="ok", **extra) -> dict:
    return {"value": value, "higher_is_better": hib, "status": status, **extra}


def make_run(**overrides) -> dict:
    """A two-row run in the documented results.json schema."""
    row = {"row_id": "teacher/heun/8", "system": "teacher", "sampler": "heun", "steps": 8, "nfe": 30,
           "metrics": {"fd@aisfx": metric(12.3, False, ci_low=10.1, ci_high=14.2),
                       "adherence": metric(0.76, True),
                       "clap@clap-laion-audio": metric(None, True, "unavailable", reason="no weights")},
           "speed": {"rtf": 18.8, "peak_ram_mb": 812.0, "nfe": 30}}
    row2 = copy.deepcopy(row)
    row2.update(row_id="teacher/euler/4", steps=4, nfe=4, speed={"rtf": 40.0, "peak_ram_mb": 800.0, "nfe": 4})
    run = {"protocol": {"name": "sfx-mini", "version": 1, "hash": "ab12"}, "rows": [row, row2],
           "extra_key": "tolerated"}
    run.update(overrides)
    return run


BASELINE = {
    "protocol": {"name": "sfx-mini", "version": 1},
    "created_from": {"git": "abc123", "run": "runs/sfx-mini-20261122"},
    "default_tolerance": {"rel": 0.10, "abs": 0.0},
    "tolerances": {"adherence": {"abs": 0.05}, "fd@aisfx": {"rel": 0.15}, "speed.nfe": {"abs": 0}},
    "rows": {"teacher/heun/8": {"adherence": {"value": 0.76, "higher_is_better": True},
                                "fd@aisfx": {"value": 12.3, "higher_is_better": False},
                                "speed.nfe": {"value": 30, "higher_is_better": False}}},
}


def set_value(run: dict, name: str, value, row: int = 0) -> dict:
    if name.startswith("speed."):
        run["rows"][row]["speed"][name[6:]] = value
    else:
        run["rows"][row]["metrics"][name]["value"] = value
    return run


def verdicts(comparisons, row_id="teacher/heun/8") -> dict[str, str]:
    return {c.metric: c.verdict for c in comparisons if c.row_id == row_id}


# ------------------------------------------------------------------ closed forms


def test_slack_is_max_of_abs_and_rel():
    assert slack_for({"abs": 0.05, "rel": 0.10}, 0.2) == pytest.approx(0.05)
    assert slack_for({"abs": 0.05, "rel": 0.10}, -2.0) == pytest.approx(0.2)
    assert slack_for({"abs": 0.0}, 5.0) == 0.0


@pytest.mark.parametrize("hib, value, expected", [
    (True, 0.89, "regressed"), (True, 0.90, "ok"), (True, 1.10, "ok"), (True, 1.11, "improved"),
    (False, 1.11, "regressed"), (False, 1.10, "ok"), (False, 0.90, "ok"), (False, 0.89, "improved"),
])
def test_judge_both_directions_and_boundary(hib, value, expected):
    assert judge(1.0, value, 0.10, hib) == expected


def test_exactly_at_slack_passes_despite_float_error():
    # 0.76 - 0.71 = 0.05000000000000004 in floating point: still exactly the slack
    assert judge(0.76, 0.71, 0.05, True) == "ok"
    assert judge(12.3, 12.3 * 1.15, 12.3 * 0.15, False) == "ok"


def test_regressions_in_both_directions():
    run = set_value(set_value(make_run(), "adherence", 0.70), "fd@aisfx", 14.2)  # -0.06 and +1.9 > 1.845
    del run["rows"][0]["metrics"]["fd@aisfx"]["ci_low"]  # no CI: the margin alone decides
    comps = compare(run, BASELINE)
    assert verdicts(comps) == {"adherence": "regressed", "fd@aisfx": "regressed", "speed.nfe": "ok"}
    adh = next(c for c in comps if c.metric == "adherence")
    assert adh.delta == pytest.approx(-0.06) and adh.slack == pytest.approx(0.05)
    assert exit_code(comps) == 1


def test_per_metric_tolerance_replaces_default():
    # adherence has {"abs": 0.05}: rel 0.10 of 0.76 (0.076) does not apply
    run = set_value(make_run(), "adherence", 0.70)
    assert verdicts(compare(run, BASELINE))["adherence"] == "regressed"
    base = copy.deepcopy(BASELINE)
    del base["tolerances"]["adherence"]
    assert verdicts(compare(run, base))["adherence"] == "ok"


def test_values_at_the_boundary_pass():
    run = set_value(set_value(make_run(), "adherence", 0.71), "fd@aisfx", 12.3 * 1.15)
    comps = compare(run, BASELINE)
    assert verdicts(comps) == {"adherence": "ok", "fd@aisfx": "ok", "speed.nfe": "ok"}
    assert exit_code(comps) == 0


def test_improvements_never_fail():
    run = set_value(set_value(set_value(make_run(), "adherence", 0.95), "fd@aisfx", 3.0), "speed.nfe", 15)
    comps = compare(run, BASELINE)
    assert verdicts(comps) == {"adherence": "improved", "fd@aisfx": "improved", "speed.nfe": "improved"}
    assert exit_code(comps) == 0


def test_nfe_is_exact():
    comps = compare(set_value(make_run(), "speed.nfe", 31), BASELINE)
    assert verdicts(comps)["speed.nfe"] == "regressed"


def test_speed_fields_only_when_listed():
    run = set_value(make_run(), "speed.rtf", 0.001)  # far slower: not in the baseline, not compared
    assert all(c.metric != "speed.rtf" for c in compare(run, BASELINE))
    base = copy.deepcopy(BASELINE)
    base["rows"]["teacher/heun/8"]["speed.rtf"] = {"value": 18.8, "higher_is_better": True}
    assert verdicts(compare(run, base))["speed.rtf"] == "regressed"


def test_missing_and_unavailable_are_failures():
    run = make_run()
    del run["rows"][0]["metrics"]["fd@aisfx"]
    run["rows"][0]["metrics"]["adherence"].update(value=None, status="error", error="too few items")
    comps = compare(run, BASELINE)
    assert verdicts(comps) == {"adherence": "unavailable", "fd@aisfx": "missing", "speed.nfe": "ok"}
    assert exit_code(comps) == 1
    assert "too few items" in next(c.note for c in comps if c.metric == "adherence")


def test_missing_row_and_speed_field_are_failures():
    run = make_run()
    del run["rows"][0]["speed"]["nfe"]
    del run["rows"][0]["nfe"]  # neither measured nor recorded with the row
    assert verdicts(compare(run, BASELINE))["speed.nfe"] == "missing"
    run["rows"] = run["rows"][1:]
    comps = compare(run, BASELINE)
    assert set(verdicts(comps).values()) == {"missing"} and exit_code(comps) == 1


def test_baseline_metric_unavailable_in_run_fails():
    base = copy.deepcopy(BASELINE)
    base["rows"]["teacher/heun/8"]["clap@clap-laion-audio"] = {"value": 0.3, "higher_is_better": True}
    comps = compare(make_run(), base)
    assert verdicts(comps)["clap@clap-laion-audio"] == "unavailable" and exit_code(comps) == 1


def test_new_rows_are_listed_once_not_failures():
    run = make_run()
    run["rows"][0]["metrics"]["kad@aisfx"] = metric(0.4, False)
    comps = compare(run, BASELINE)
    assert "kad@aisfx" not in verdicts(comps)  # not gated by this baseline: not listed
    assert verdicts(comps, "teacher/euler/4") == {"*": "new"}
    assert exit_code(comps) == 0


def test_a_difference_inside_the_combined_uncertainty_is_not_a_regression():
    """Worse by 1.9 > margin 1.845, but the run's CI half-width is 2.05: not resolved, so ok."""
    run = set_value(make_run(), "fd@aisfx", 14.2)
    comp = next(c for c in compare(run, BASELINE) if c.metric == "fd@aisfx")
    assert comp.verdict == "ok" and comp.uncertainty == pytest.approx(2.05 * family_scale(2))


def test_family_scale_is_bonferroni_over_the_gated_comparisons():
    from scipy.special import ndtri

    assert family_scale(1) == pytest.approx(1.0)  # one comparison: the 95 % half-width itself
    assert family_scale(160) == pytest.approx(ndtri(1 - 0.05 / 320) / ndtri(0.975))
    assert 1.8 < family_scale(160) < 1.9 and family_scale(1000) > family_scale(160)


def test_uncertainty_combines_run_and_baseline_half_widths():
    base = copy.deepcopy(BASELINE)
    base["rows"]["teacher/heun/8"]["fd@aisfx"].update(ci_low=11.8, ci_high=12.8)  # h = 0.5
    k = family_scale(2)  # two gated comparisons (adherence, fd@aisfx)
    bound = k * (2.05 ** 2 + 0.5 ** 2) ** 0.5
    run = set_value(make_run(), "fd@aisfx", 12.3 + bound - 0.01)
    comp = next(c for c in compare(run, base) if c.metric == "fd@aisfx")
    assert comp.uncertainty == pytest.approx(bound) and comp.verdict == "ok"
    run = set_value(make_run(), "fd@aisfx", 12.3 + bound + 0.01)
    assert next(c for c in compare(run, base) if c.metric == "fd@aisfx").verdict == "regressed"
    base["family_alpha"] = 2.0
    with pytest.raises(BaselineError, match="family_alpha"):
        compare(run, base)


def test_default_baseline_gates_the_metrics_that_resolve():
    run = make_run(resolution={"fd@aisfx": {"verdict": "does not resolve"},
                               "kad@aisfx": {"verdict": "resolves"}})
    for row in run["rows"]:
        row["metrics"]["kad@aisfx"] = metric(0.4, False, ci_low=0.3, ci_high=0.5)
    run["anchors"] = [{"row_id": "anchor/floor", "role": "floor", "metrics": {
        "kad@aisfx": metric(0.01, False), "adherence": metric(1.0, True)}}]
    base = make_baseline(run)
    assert base["gated"]["metrics"] == ["adherence", "kad@aisfx", "speed.nfe"]
    assert set(base["rows"]["teacher/heun/8"]) == {"adherence", "kad@aisfx", "speed.nfe"}
    assert set(base["rows"]["anchor/floor"]) == {"adherence", "kad@aisfx"}  # anchors have no speed
    assert base["rows"]["teacher/heun/8"]["kad@aisfx"]["ci_low"] == 0.3
    assert exit_code(compare(run, base)) == 0


def test_protocol_mismatch_is_an_input_error():
    for protocol in ({"name": "sfx-mini", "version": 2}, {"name": "esc50", "version": 1}):
        with pytest.raises(BaselineError, match="regenerate"):
            compare(make_run(protocol=protocol), BASELINE)
    base = copy.deepcopy(BASELINE)
    base["protocol"]["hash"] = "ffff"
    with pytest.raises(BaselineError, match="hash"):
        compare(make_run(), base)


# ------------------------------------------------------------------ baselines


def test_round_trip_make_baseline_then_compare_is_all_ok():
    run = make_run()
    base = make_baseline(run)
    comps = compare(run, base)
    assert {c.verdict for c in comps} == {"ok"} and exit_code(comps) == 0
    assert base["tolerances"] == {"adherence": {"abs": 0.05}, "speed.nfe": {"abs": 0}}
    assert base["default_tolerance"] == {"rel": 0.10, "abs": 0.0}
    row = base["rows"]["teacher/heun/8"]
    assert set(row) == {"adherence", "speed.nfe"}  # no resolution table: adherence and nfe only
    assert base["protocol"] == {"name": "sfx-mini", "version": 1, "hash": "ab12"}
    assert make_baseline(make_run(_run={"git": {"commit": "abc123"}}))["created_from"]["git"] == "abc123"


def test_make_baseline_metrics_and_tolerances():
    base = make_baseline(make_run(), {"fd@aisfx": {"rel": 0.2}}, ["fd@aisfx", "speed.rtf"])
    assert base["rows"]["teacher/heun/8"] == {
        "fd@aisfx": {"value": 12.3, "higher_is_better": False, "ci_low": 10.1, "ci_high": 14.2},
        "speed.rtf": {"value": 18.8, "higher_is_better": True}}
    assert base["tolerances"]["fd@aisfx"] == {"rel": 0.2}
    with pytest.raises(BaselineError, match="clap"):
        make_baseline(make_run(), metrics=["clap@clap-laion-audio"])


def test_load_baseline_names_file_and_key(tmp_path):
    path = tmp_path / "base.json"
    bad = copy.deepcopy(BASELINE)
    bad["rows"]["teacher/heun/8"]["fd@aisfx"]["value"] = "high"
    path.write_text(json.dumps(bad))
    with pytest.raises(BaselineError, match=r"base\.json.*fd@aisfx.*value"):
        load_baseline(path)
    path.write_text("{not json")
    with pytest.raises(BaselineError, match=r"base\.json"):
        load_baseline(path)
    with pytest.raises(BaselineError, match="not found"):
        load_baseline(tmp_path / "absent.json")
    path.write_text(json.dumps({**BASELINE, "tolerances": {"adherence": {"abs": -1}}}))
    with pytest.raises(BaselineError, match=r"tolerances\['adherence'\]\.abs"):
        load_baseline(path)


def test_table_marks_regressions():
    comps = compare(set_value(make_run(), "adherence", 0.5), BASELINE)
    table = format_table(comps)
    line = next(t for t in table.splitlines() if "adherence" in t)
    assert line.startswith("!!") and "REGRESSED" in line
    assert not next(t for t in table.splitlines() if "fd@aisfx" in t).startswith("!!")
    assert summary(comps).startswith("FAIL: ") and "1 regressed" in summary(comps)


# ------------------------------------------------------------------ CLI


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(make_run()))
    return folder


def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_cli_exit_codes(run_dir, tmp_path, capsys):
    assert main(["check", str(run_dir), "--baseline", write_json(tmp_path / "b.json", BASELINE)]) == 0
    assert "PASS" in capsys.readouterr().out
    worse = copy.deepcopy(BASELINE)
    worse["rows"]["teacher/heun/8"]["adherence"]["value"] = 0.9
    assert main(["check", str(run_dir), "--baseline", write_json(tmp_path / "w.json", worse)]) == 1
    assert "REGRESSED" in capsys.readouterr().out
    other = {**BASELINE, "protocol": {"name": "sfx-mini", "version": 2}}
    assert main(["check", str(run_dir), "--baseline", write_json(tmp_path / "o.json", other)]) == 2
    assert "regenerate" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "nowhere"), "--baseline", str(tmp_path / "b.json")]) == 2
    assert main(["check", str(run_dir)]) == 2


def test_cli_write_baseline_round_trip_and_refuses_overwrite(run_dir, tmp_path, capsys):
    target = tmp_path / "baselines" / "sfx-mini.json"
    args = ["check", str(run_dir), "--write-baseline", str(target)]
    assert main(args + ["--tolerance", "fd@aisfx=rel:0.2", "--tolerance", "fd@aisfx=abs:0.5"]) == 0
    written = json.loads(target.read_text())
    assert written["tolerances"]["fd@aisfx"] == {"rel": 0.2, "abs": 0.5}
    assert written["created_from"]["run"] == str(run_dir)
    assert main(["check", str(run_dir), "--baseline", str(target)]) == 0
    capsys.readouterr()
    assert main(args) == 2 and "--force" in capsys.readouterr().err
    assert json.loads(target.read_text()) == written
    assert main(args + ["--force", "--metrics", "adherence"]) == 0
    assert set(json.loads(target.read_text())["rows"]["teacher/heun/8"]) == {"adherence"}


def test_cli_bad_tolerance_is_input_error(run_dir, tmp_path, capsys):
    target = tmp_path / "b.json"
    assert main(["check", str(run_dir), "--write-baseline", str(target), "--tolerance", "fd=pct:3"]) == 2
    assert "--tolerance" in capsys.readouterr().err and not target.exists()


def test_nfe_is_read_from_the_row_when_speed_was_not_measured():
    run = make_run()
    run["rows"][0]["speed"] = {"skipped": True}  # bench run --no-speed
    assert verdicts(compare(run, BASELINE))["speed.nfe"] == "ok"
    run["rows"][0]["nfe"] = 62
    assert verdicts(compare(run, BASELINE))["speed.nfe"] == "regressed"
