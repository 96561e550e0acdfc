"""End-to-end evaluation: results.json contract, CIs, caching, no overwrite, CLI, --list."""
from __future__ import annotations

import csv
import json
import math

import pytest

from bench.__main__ import main
from bench.demo_data import write_demo
from bench.evaluate import evaluate

METRICS = ["fd@mel", "kad@mel", "prdc@mel", "ccds@mel", "lpaps@mel", "si_sdr", "lsd",
           "mel_distance", "fd@clap-laion-audio"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    write_demo(root, per_kind=6)
    return root


def test_results_contract(demo, tmp_path):
    # paired metrics need shared ids: evaluate the reference against itself for those
    evaluate(demo / "gen.csv", demo / "ref.csv", METRICS[:4] + ["fd@clap-laion-audio"],
             out=tmp_path / "run", bootstrap=20, progress=False)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    for name in METRICS[:3] + ["precision@mel", "coverage@mel", "ccds@mel"]:
        if name == "prdc@mel":
            continue
        r = saved[name]
        assert r["status"] == "ok" and math.isfinite(r["value"])
        assert r["ci"][0] <= r["ci"][1] and r["n"] == 24 and isinstance(r["higher_is_better"], bool)
        assert "settings" in r and r["backend_config"]["name"] == "mel"
    clap = saved["fd@clap-laion-audio"]
    assert clap["status"] == "unavailable" and clap["value"] is None and "clap" in clap["reason"].lower()
    run = saved["_run"]
    assert run["environment"]["packages"]["numpy"] and "git" in run["environment"]
    assert run["settings"]["io"]["resampler"] == "soxr-HQ" and run["settings"]["bootstrap"] == 20


def test_paired_metrics_and_per_item_csv(demo, tmp_path):
    results = evaluate(demo / "ref.csv", demo / "ref.csv", ["si_sdr", "lsd", "lpaps@mel"],
                       out=tmp_path / "run", bootstrap=10, progress=False)
    assert results["lsd"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert results["lpaps@mel"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert results["si_sdr"]["value"] > 100  # identical signals
    with open(tmp_path / "run" / "per_item.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["metric"] for r in rows} == {"si_sdr", "lsd", "lpaps@mel"} and len(rows) == 72


def test_ci_is_seeded_and_batch_size_does_not_change_results(demo):
    kw = dict(bootstrap=15, progress=False, cache_dir=None)
    a = evaluate(demo / "gen.csv", demo / "ref.csv", ["kad@mel", "fd@mel"], batch_size=4, **kw)
    b = evaluate(demo / "gen.csv", demo / "ref.csv", ["fd@mel", "kad@mel"], batch_size=16, **kw)
    for name in ("kad@mel", "fd@mel"):
        assert a[name]["value"] == b[name]["value"] and a[name]["ci"] == b[name]["ci"]


def test_cache_is_used_on_rerun(demo, tmp_path):
    kw = dict(bootstrap=0, progress=False, cache_dir=tmp_path / "cache")
    first = evaluate(demo / "gen.csv", demo / "ref.csv", ["fd@mel"], **kw)
    second = evaluate(demo / "gen.csv", demo / "ref.csv", ["fd@mel"], **kw)
    assert first["_run"]["cache"]["hits"] == 0 and second["_run"]["cache"]["hits"] == 48
    assert first["fd@mel"]["value"] == pytest.approx(second["fd@mel"]["value"], rel=1e-12)


def test_run_folder_is_never_overwritten(demo, tmp_path):
    kw = dict(bootstrap=0, progress=False, out=tmp_path / "run")
    evaluate(demo / "gen.csv", demo / "ref.csv", ["fd@mel"], **kw)
    with pytest.raises(FileExistsError, match="never overwritten"):
        evaluate(demo / "gen.csv", demo / "ref.csv", ["fd@mel"], **kw)


def test_cli_eval_and_exit_codes(demo, tmp_path, capsys):
    args = ["eval", "--gen", str(demo / "gen.csv"), "--ref", str(demo / "ref.csv"),
            "--bootstrap", "5", "--metrics"]
    assert main(args + ["fd@mel,fd@clap-laion-audio", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "fd@mel" in out and "unavailable" in out
    assert main(args + ["fd@clap-laion-audio", "--strict"]) == 1
    assert main(args + ["fd@nosuch"]) == 2
    assert "unknown embedding backend 'nosuch'" in capsys.readouterr().err
    assert main(args + ["kl@mel"]) == 2
    assert "needs ['logits']" in capsys.readouterr().err


def test_cli_list_says_what_runs_and_why_not(capsys):
    assert main(["eval", "--list"]) == 0
    out = capsys.readouterr().out
    assert "mel" in out and "UNAVAILABLE" in out and "pip install" in out
    assert "fd@mel" in out


def test_ci_brackets_the_estimate_keeps_the_domain_and_reports_the_bias(demo):
    kw = dict(bootstrap=30, progress=False, cache_dir=None)
    r = evaluate(demo / "gen.csv", demo / "ref.csv", ["fd@mel", "kad@mel", "prdc@mel"], **kw)
    for name in ("fd@mel", "kad@mel", "precision@mel", "density@mel"):
        lo, hi = r[name]["ci"]
        assert lo <= r[name]["value"] <= hi and "median-recentred" in r[name]["ci_method"]
        assert len(r[name]["replicates"]) == 30
    assert 0.0 <= r["precision@mel"]["ci"][0] and r["precision@mel"]["ci"][1] <= 1.0
    assert r["fd@mel"]["bootstrap_bias"] > 0  # duplicated clips inflate FD: reported, not subtracted
    itself = evaluate(demo / "ref.csv", demo / "ref.csv", ["fd@mel"], **kw)["fd@mel"]
    assert itself["ci"][0] == 0.0 <= itself["value"] < itself["ci"][1]  # was [-52.8, 82.9]-like
    assert itself["ci_clipped"] and itself["bootstrap_bias"] > 0
