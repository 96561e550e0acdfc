"""``python -m bench report``: tables, Pareto front, HTML safety, bad inputs, headless Chromium."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from bench.__main__ import main
from bench.report import ReportError, load_runs, merge_rows
from bench.report.plots import metric_vs_steps, pareto_front, quality_vs_rtf, spectrograms
from bench.report.tables import csv_text, markdown_table

EVIL = '<script>alert(1)</script> & "quotes"'
PROMPTS = [EVIL, "a dog barks", "a loud high tone", "rain on a roof"]
SYSTEMS = {"teacher": "heun", "student": "euler"}
STEPS = (2, 4, 8)


def fd_value(system: str, steps: int) -> float:
    return round((20.0 if system == "student" else 30.0) / steps + 1.0, 3)


def make_row(run_dir, system: str, sampler: str, steps: int) -> dict:
    """One row following the runner's schema, with real FLAC files for its clips."""
    row_id = f"{system}/{sampler}/{steps}"
    audio = []
    for i, prompt in enumerate(PROMPTS):
        rel = f"audio/{row_id}/test-{i:04d}.flac"
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(4000) / 16000
        tone = 0.3 * np.sin(2 * np.pi * (200 + 100 * steps + 50 * i) * t)
        sf.write(run_dir / rel, tone.astype(np.float32), 16000)
        audio.append({"item_id": f"test-{i:04d}", "prompt": prompt, "seed": i, "path": rel})
    fd = fd_value(system, steps)
    adh = round(0.5 + 0.04 * steps + (0.05 if system == "teacher" else 0.0), 3)
    rtf = (400.0 if system == "student" else 150.0) / steps
    return {"row_id": row_id, "system": system, "sampler": sampler, "steps": steps, "guidance": 3.0,
            "nfe": 2 * steps - 1, "extra_key": "tolerated",
            "metrics": {
                "fd@aisfx": {"value": fd, "ci_low": fd - 1.0, "ci_high": fd + 1.5, "higher_is_better": False,
                             "status": "ok"},
                "adherence": {"value": adh, "ci_low": adh - 0.05, "ci_high": adh + 0.05,
                              "higher_is_better": True, "status": "ok"},
                "clap@clap-laion-audio": {"value": None, "status": "unavailable",
                                          "reason": "laion-clap not installed", "higher_is_better": True}},
            "speed": {"profile": "cpu", "rtf": rtf, "latency_s": 0.01 * steps, "throughput_clips_per_s": 9.2,
                      "batch": 8, "peak_ram_mb": 812.0, "peak_vram_mb": None, "nfe": 2 * steps - 1},
            "audio": audio}


def make_run(root, name: str = "run-a", version: int = 1):
    """A run folder: 2 systems x 3 step counts, 4 clips per row."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    rows = [make_row(run_dir, s, sampler, n) for s, sampler in SYSTEMS.items() for n in STEPS]
    results = {"protocol": {"name": "sfx-mini", "version": version, "hash": f"ab12{version}"},
               "created": "2026-11-22T05:00:00Z",
               "environment": {"git": "abc123", "device": "cpu", "packages": {"torch": "2.13.0"}},
               "rows": rows, "timings": {"total_s": 310.0, "generate_s": 120.0, "evaluate_s": 150.0,
                                         "overhead_s": 4.0}}
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    return run_dir


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """(run folder, output folder) with the report written once for the module."""
    root = tmp_path_factory.mktemp("report")
    run_dir = make_run(root)
    assert main(["report", str(run_dir), "--out", str(root / "out")]) == 0
    return run_dir, root / "out"


@pytest.fixture(scope="module")
def rows(report):
    return merge_rows(load_runs([report[0]]))


def test_markdown_has_directions_cis_na_and_order(rows):
    md = markdown_table(rows)
    header = md.splitlines()[0]
    for text in ("fd@aisfx ↓", "adherence ↑", "clap@clap-laion-audio ↑", "NFE", "RTF ↑", "latency (s) ↓",
                 "throughput (clips/s) ↑", "peak RAM (MB) ↓", "peak VRAM (MB) ↓"):
        assert text in header
    assert "run |" not in header  # a single run has no run column
    fd = fd_value("student", 2)
    assert f"| {fd:.4g} [{fd - 1:.4g}, {fd + 1.5:.4g}] |" in md
    assert md.count("n/a (laion-clap not installed)") == 6
    body = [line.split("|")[1:4] for line in md.splitlines()[2:8]]
    expected = [(s, n) for s in ("student", "teacher") for n in STEPS]
    assert [(s.strip(), int(n)) for s, _, n in body] == expected
    assert "RTF = seconds of audio generated per wall-clock second (higher is faster)" in md


def test_csv_has_numeric_value_and_ci_columns(rows):
    records = list(csv.DictReader(io.StringIO(csv_text(rows))))
    assert len(records) == 6
    first = records[0]
    assert (first["system"], first["steps"]) == ("student", "2")
    fd = fd_value("student", 2)
    assert float(first["fd@aisfx:value"]) == pytest.approx(fd)
    assert float(first["fd@aisfx:ci_low"]) == pytest.approx(fd - 1.0)
    assert float(first["fd@aisfx:ci_high"]) == pytest.approx(fd + 1.5)
    assert first["fd@aisfx:higher_is_better"] == "False"
    assert first["clap@clap-laion-audio:value"] == ""
    assert first["clap@clap-laion-audio:status"] == "unavailable"
    assert first["clap@clap-laion-audio:reason"] == "laion-clap not installed"
    assert float(first["rtf_audio_s_per_wall_s"]) == pytest.approx(200.0)
    assert first["peak_vram_mb"] == ""


def test_pareto_front_closed_form():
    points = [(1.0, 0.5), (2.0, 0.4), (3.0, 0.45), (4.0, 0.1), (0.5, 0.9), (2.0, 0.3)]
    assert pareto_front(points, higher_is_better=True) == [4, 0, 2, 3]
    lower = [(1.0, 1.0), (2.0, 2.0), (3.0, 1.5), (4.0, 3.0)]
    assert pareto_front(lower, higher_is_better=False) == [0, 2, 3]
    assert pareto_front(lower, higher_is_better=True) == [3]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)], higher_is_better=True) == [0, 1]


def test_html_is_escaped_self_contained_with_players(report):
    page = (report[1] / "leaderboard.html").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert page.count("<audio") == 6 * 3
    assert page.count('src="data:audio/wav;base64,') == 18
    assert "http://" not in page and "https://" not in page
    assert '<table class="leaderboard"' in page
    assert page.count("<svg") >= 2 and "data:image/png;base64," in page
    assert "higher is faster" in page and "laion-clap not installed" in page


def test_cli_prints_paths_and_players_option(tmp_path, capsys):
    run_dir = make_run(tmp_path)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o"), "--players", "1",
                 "--quality", "fd@aisfx"]) == 0
    out = capsys.readouterr().out
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html"):
        assert str(tmp_path / "o" / name) in out
    assert (tmp_path / "o" / "leaderboard.html").read_text().count("<audio") == 6


def test_plots_skip_with_a_note_when_data_is_missing(rows, tmp_path):
    broken = [dict(r, run_dir=tmp_path) for r in rows]  # audio paths now point nowhere
    assert spectrograms(broken, "teacher").note.startswith("skipped")
    assert spectrograms(rows, "nobody").note.startswith("skipped")
    assert spectrograms(rows, "teacher").png[:4] == b"\x89PNG"
    assert "no 'ok' value" in metric_vs_steps(rows, "clap@clap-laion-audio").note
    no_speed = [dict(r, speed={}) for r in rows]
    assert quality_vs_rtf(no_speed, "adherence").note.startswith("skipped")
    assert quality_vs_rtf(rows, "adherence").svg.startswith("<svg")
    odd = "a $\\frac{$ b"  # malformed mathtext must be drawn literally
    dollars = [dict(r, system=odd, audio=[dict(r["audio"][0], prompt=odd)]) for r in rows]
    assert spectrograms(dollars, odd).png and quality_vs_rtf(dollars, "adherence").svg


def test_missing_audio_files_do_not_break_the_report(tmp_path):
    run_dir = make_run(tmp_path)
    shutil.rmtree(run_dir / "audio" / "teacher")
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o")]) == 0
    page = (tmp_path / "o" / "leaderboard.html").read_text()
    assert page.count("<audio") == 9 and "audio missing or unreadable" in page


def test_several_runs_keep_their_names(tmp_path):
    runs = load_runs([make_run(tmp_path, "a"), make_run(tmp_path, "b")])
    merged = merge_rows(runs)
    assert sorted({r["run"] for r in merged}) == ["a", "b"] and len(merged) == 12
    assert markdown_table(merged).startswith("| run | system |")


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_missing_results_and_bad_json_are_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = _error(capsys, ["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o1")])
    assert "no results.json" in err and str(tmp_path / "empty") in err
    run_dir = make_run(tmp_path)
    (run_dir / "results.json").write_text("{not json")
    assert "not valid JSON" in _error(capsys, ["report", str(run_dir), "--out", str(tmp_path / "o2")])


def test_missing_keys_and_null_ok_values_name_the_key(tmp_path):
    run_dir = make_run(tmp_path)
    data = json.loads((run_dir / "results.json").read_text())
    del data["rows"][1]["metrics"]
    (run_dir / "results.json").write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"results\.json: missing key 'rows\[1\]\.metrics'"):
        load_runs([run_dir])
    data = json.loads((make_run(tmp_path, "b") / "results.json").read_text())
    data["rows"][0]["metrics"]["adherence"]["value"] = None
    (tmp_path / "b" / "results.json").write_text(json.dumps(data))
    with pytest.raises(ReportError, match=re.escape("rows[0].metrics['adherence'].value is null")):
        load_runs([tmp_path / "b"])


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


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    return path


def _chromium_run(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_headless_chromium_renders_the_page(report, tmp_path):
    url = (report[1] / "leaderboard.html").resolve().as_uri()
    dom = _chromium_run(tmp_path, "--dump-dom", url).stdout
    assert '<table class="leaderboard"' in dom and dom.count("<tr>") >= 7
    assert dom.count("<svg") + dom.count('<img src="data:image/png') >= 2
    assert dom.count("<audio") == 18
    assert "&lt;script&gt;" in dom and "<script" not in dom.lower()
    shot = tmp_path / "shot.png"
    _chromium_run(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
