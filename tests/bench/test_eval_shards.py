"""``bench eval --shard I/N`` + ``bench merge``, and ``torchrun -m bench eval``: the union of the shards
evaluates to the 1-process results (values, CIs, replicates, per-item values); incomplete or
mismatched shard sets and bad ``--shard`` values are clear errors; a finished shard is not redone."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.demo_data import write_demo

ROOT = Path(__file__).resolve().parents[2]
METRICS = "fd@mel,kad@mel,prdc@mel,ccds@mel"
COMMON = ["--metrics", METRICS, "--batch-size", "4", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shards-demo")
    write_demo(root, per_kind=4)   # 4 kinds × 4 clips a side: 4 canonical batches of 4
    return root


def sources(demo: Path) -> list[str]:
    return ["--gen", str(demo / "gen.csv"), "--ref", str(demo / "ref.csv")]


def comparable(folder: Path) -> tuple[dict, list]:
    results = json.loads((folder / "results.json").read_text())
    results.pop("_run")
    with open(folder / "per_item.csv", newline="") as f:
        return results, list(csv.reader(f))


@pytest.fixture(scope="module")
def single(demo, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    assert main(["eval", *sources(demo), *COMMON, "--no-cache", "--out", str(out)]) == 0
    return out


def test_three_shards_merge_to_the_one_process_results(demo, single, tmp_path, capsys):
    shards = tmp_path / "shards"
    for i in range(3):
        assert main(["eval", *sources(demo), *COMMON, "--shard", f"{i}/3", "--out", str(shards)]) == 0
    assert "merge the 3 shards" in capsys.readouterr().out
    records = [json.loads((shards / f"shard-{i}-of-3.json").read_text()) for i in range(3)]
    assert [len(r["items"]["gen"]) for r in records] == [8, 4, 4]   # batches 0 and 3, 1, 2
    assert main(["merge", str(shards), "--bootstrap", "20", "--out", str(tmp_path / "merged")]) == 0
    assert comparable(tmp_path / "merged") == comparable(single)
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert merged["_run"]["cache"]["misses"] == 0   # every embedding came from a shard


def test_a_finished_shard_is_not_redone(demo, tmp_path, monkeypatch):
    shards = tmp_path / "shards"
    assert main(["eval", *sources(demo), *COMMON, "--shard", "0/2", "--out", str(shards)]) == 0
    monkeypatch.setattr("bench.extract.Extractor.features", lambda *a, **k: pytest.fail("embedded again"))
    assert main(["eval", *sources(demo), *COMMON, "--shard", "0/2", "--out", str(shards)]) == 0


def test_incomplete_or_mismatched_shards_and_bad_shard_values_are_refused(demo, tmp_path, capsys):
    shards = tmp_path / "shards"
    assert main(["eval", *sources(demo), *COMMON, "--shard", "0/2", "--out", str(shards)]) == 0
    assert main(["merge", str(shards), "--out", str(tmp_path / "m")]) == 2
    assert "shard(s) [1] of 2 are missing or unfinished" in capsys.readouterr().err
    other = ["--metrics", "fd@mel", "--batch-size", "4"]
    assert main(["eval", *sources(demo), *other, "--shard", "1/2", "--out", str(shards)]) == 0
    assert main(["merge", str(shards), "--out", str(tmp_path / "m")]) == 2
    assert "shard 1 was made with other settings (['metrics'])" in capsys.readouterr().err
    for bad in ("2/2", "1", "a/b", "-1/2"):
        assert main(["eval", *sources(demo), *COMMON, f"--shard={bad}", "--out", str(tmp_path / "x")]) == 2
        assert "write I/N with 0 <= I < N" in capsys.readouterr().err
    assert main(["eval", *sources(demo), *COMMON, "--shard", "0/2"]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "empty"), "--out", str(tmp_path / "m")]) == 2


def test_torchrun_eval_with_two_ranks_equals_the_one_process_results(demo, single, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "FASTAUDIO_CACHE": str(tmp_path / "cache"), "FASTAUDIO_TORCH_THREADS": "1",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
           "bench", "eval", *sources(demo), *COMMON, "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert comparable(out) == comparable(single)
    shards = sorted(p.name for p in (out / "shards").glob("*.json"))
    assert shards == ["shard-0-of-2.json", "shard-1-of-2.json"]
