"""Bad run folders and options are clear errors (exit 2, file and key named), never tracebacks."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from bench.__main__ import main
from bench.report import ReportError, load_runs

from .fakes import make_run


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def _dup_system_row(data):
    data["rows"][3]["row_id"] = data["rows"][1]["row_id"]


def _dup_anchor_row(data):
    data["anchors"][1]["row_id"] = data["rows"][0]["row_id"]


def _set(path: str, value):
    """An edit that sets ``data[path]`` where path is like 'rows.0.role'."""
    def edit(data):
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        target = data
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


@pytest.mark.parametrize(("edit", "words"), [
    (_dup_system_row, ["rows[3].row_id 'teacher/heun/4' is duplicated (also rows[1].row_id)",
                       "remove the duplicate row"]),
    (_dup_anchor_row, ["anchors[1].row_id 'teacher/heun/2' is duplicated (also rows[0].row_id)"]),
    (_set("rows.0.row_id", 7), ["rows[0].row_id must be a string"]),
    (_set("rows.2.role", "judge"), ["rows[2].role is 'judge'", "'system', 'floor', 'ceiling'"]),
    (_set("anchors.0.role", "system"), ["anchors[0].role is 'system'; expected one of 'floor', 'ceiling'"]),
    (_set("anchors", {"floor": 1}), ["'anchors' must be a list"]),
    (lambda data: data["anchors"][1].pop("role"), ["anchors[1].role is missing"]),
    (_set("rows.1.metrics.fd@aisfx.flags", "n<=d"), ["rows[1].metrics['fd@aisfx'].flags must be a list"]),
    (_set("resolution", ["resolves"]), ["'resolution' must be a JSON object"]),
    (_set("resolution.fd@aisfx", {"difference": 1.0}), ["missing key 'resolution['fd@aisfx'].verdict'"]),
    (_set("resolution.fd@aisfx.verdict", 1), ["resolution['fd@aisfx'].verdict must be a string"]),
])
def test_bad_results_name_the_file_and_key(tmp_path, capsys, edit, words):
    run_dir = make_run(tmp_path, edit=edit)
    err = _error(capsys, ["report", str(run_dir), "--out", str(tmp_path / "o")])
    assert str(run_dir / "results.json") in err and "Traceback" not in err
    for text in words:
        assert text in err
    assert not (tmp_path / "o").exists()  # nothing written on an input error


def test_anchors_may_be_missing_or_null(tmp_path):
    def drop(data):
        del data["anchors"]
    assert load_runs([make_run(tmp_path, "a", edit=drop)])[0].anchors == []
    assert load_runs([make_run(tmp_path, "b", edit=_set("anchors", None))])[0].anchors == []


def test_missing_results_and_bad_json_are_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = _error(capsys, ["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o1")])
    assert "no results.json" in err and str(tmp_path / "empty") in err
    run_dir = make_run(tmp_path)
    (run_dir / "results.json").write_text("{not json")
    assert "not valid JSON" in _error(capsys, ["report", str(run_dir), "--out", str(tmp_path / "o2")])


def test_missing_keys_and_null_ok_values_name_the_key(tmp_path):
    def no_metrics(data):
        del data["rows"][1]["metrics"]
    with pytest.raises(ReportError, match=r"results\.json: missing key 'rows\[1\]\.metrics'"):
        load_runs([make_run(tmp_path, "a", edit=no_metrics)])
    with pytest.raises(ReportError, match=re.escape("rows[0].metrics['adherence'].value is null")):
        load_runs([make_run(tmp_path, "b", edit=_set("rows.0.metrics.adherence.value", None))])


def test_mixed_protocols_need_allow_mixed(tmp_path, capsys):
    a, b = make_run(tmp_path, "a", version=1), make_run(tmp_path, "b", version=2)
    err = _error(capsys, ["report", str(a), str(b), "--out", str(tmp_path / "o")])
    assert "--allow-mixed" in err and "sfx-mini v1" in err and "sfx-mini v2" in err
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "o"), "--allow-mixed"]) == 0
    assert "| run |" in (tmp_path / "o" / "leaderboard.md").read_text()


def test_existing_out_and_unknown_quality_are_refused(tmp_path, capsys):
    run_dir = make_run(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert "already holds files" in _error(capsys, ["report", str(run_dir), "--out", str(out)])
    err = _error(capsys, ["report", str(run_dir), "--out", str(tmp_path / "o2"), "--quality", "nope"])
    assert "'nope' is not a metric" in err
    assert main(["report", str(run_dir), "--out", str(out), "--force", "--players", "0"]) == 0
    assert (out / "keep.txt").exists() and (out / "leaderboard.html").exists()


def test_missing_audio_files_do_not_break_the_report(tmp_path):
    run_dir = make_run(tmp_path)
    shutil.rmtree(run_dir / "audio" / "teacher")
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o")]) == 0
    page = (tmp_path / "o" / "leaderboard.html").read_text()
    assert page.count("<audio") == 9 + 4 and "audio missing or unreadable" in page


def test_a_results_file_path_is_accepted_as_a_run(tmp_path):
    run_dir = make_run(tmp_path)
    data = json.loads((run_dir / "results.json").read_text())
    assert load_runs([run_dir / "results.json"])[0].rows[0]["row_id"] == data["rows"][0]["row_id"]
