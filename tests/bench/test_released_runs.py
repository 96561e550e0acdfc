"""The released-model adapters on tiny random builds through the runners and the report."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers", reason="diffusers extra not installed (pip install -e '.[diffusers]')")

from bench.__main__ import main  # noqa: E402
from bench.protocols import get_protocol  # noqa: E402


def test_released_tiny_runs_through_the_runner_and_the_report(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path / "cache"))
    protocol = get_protocol("released-tiny")
    assert main(["run", "released-tiny", "--out", str(tmp_path / "run"), "--quiet", "--gen-batch", "4"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = {r["row_id"]: r for r in results["rows"]}
    tiny = "modeltiny-random"
    expected = {"teacher/euler/1", "teacher/euler/4", f"stable-audio-open/cosine-dpmsolver++/2/{tiny}",
                f"stable-audio-open/cosine-dpmsolver++/4/{tiny}", f"audioldm2/ddim/2/{tiny}",
                f"audioldm2/ddim/4/{tiny}", f"audioldm/ddim/2/{tiny}", f"audioldm/heun/2/{tiny}"}
    assert set(rows) == expected
    sao = rows[f"stable-audio-open/cosine-dpmsolver++/4/{tiny}"]
    assert sao["nfe"] == 8 and sao["guidance"] == 7.0              # 4 steps × CFG's 2 branches
    assert rows[f"audioldm/heun/2/{tiny}"]["nfe"] == 2 * 3    # Heun 2N − 1 calls × CFG
    assert sao["speed"]["rtf"] > 0
    for row in rows.values():
        assert all(m.get("status") == "ok" for m in row["metrics"].values()), row["row_id"]
    assert results["protocol"]["hash"] == protocol.hash()
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "report")]) == 0
    board = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "stable-audio-open" in board and "audioldm2" in board


def test_a_run_can_select_systems(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path / "cache"))
    assert main(["run", "released-tiny", "--out", str(tmp_path / "run"), "--quiet", "--no-speed",
                 "--systems", "audioldm"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert {r["system"] for r in results["rows"]} == {"audioldm"}
    assert results["systems_selected"] == ["audioldm"]
    # resuming the folder with another selection would drop its rows from results.json: refused
    resume = ["run", "released-tiny", "--out", str(tmp_path / "run"), "--quiet", "--no-speed", "--resume"]
    assert main(resume) == 2
    assert main(["run", "released-tiny", "--out", str(tmp_path / "other"), "--systems", "arc"]) == 2


def test_released_codecs_tiny_runs_through_the_codec_runner_and_the_report(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path / "cache"))
    assert main(["run", "released-codecs-tiny", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = {r["row_id"]: r for r in results["rows"]}
    assert set(rows) == {"dac/n_codebooks1", "dac/n_codebooks3", "encodec/bandwidth_kbps3",
                         "encodec/bandwidth_kbps12", "opus/bitrate_kbps6"}
    for row in rows.values():
        assert all(m["status"] == "ok" for m in row["metrics"].values()), row["row_id"]
        assert row["speed"]["decode_rtf"] > 0
    kbps = {name: row["metrics"]["kbps"]["value"] for name, row in rows.items()}
    assert kbps["dac/n_codebooks1"] < kbps["dac/n_codebooks3"]       # bits measured from the payloads
    assert kbps["encodec/bandwidth_kbps3"] < kbps["encodec/bandwidth_kbps12"]
    assert rows["dac/n_codebooks3"]["config"]["weights"].startswith("tiny-random")
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "report")]) == 0
    assert "encodec" in (tmp_path / "report" / "leaderboard.md").read_text()
