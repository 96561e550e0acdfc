"""Data-parallel training over 2 Gloo ranks (``systems.training.data_parallel``): two launches give
the same checkpoint bit for bit, the budget counts the examples of every rank, the ranks hold equal
weights, a task that does not declare itself data-parallel is refused; batch slicing rules."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from systems.training.checkpoint import load_checkpoint
from systems.training.data_parallel import shard_batch, stream

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "systems" / "_ddp_train.py"


def launch(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FASTAUDIO_TORCH_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                           "2", str(SCRIPT), str(out), *extra], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_slices_are_contiguous_and_leave_other_fields_alone():
    batch = {"x": torch.arange(8).reshape(8, 1), "ids": list("abcdefgh"), "phase": 1, "w": torch.ones(3)}
    first, second = (shard_batch(batch, r, 2, 8) for r in (0, 1))
    assert first["x"].flatten().tolist() == [0, 1, 2, 3] and second["ids"] == list("efgh")
    assert first["phase"] == 1 and torch.equal(second["w"], torch.ones(3))
    assert shard_batch(batch, 0, 1, 8) is batch
    with pytest.raises(ValueError, match="multiple of 3"):
        shard_batch(batch, 0, 3, 8)
    assert stream("noise", 1, 0) == "noise" and stream("noise", 2, 1) == "noise/1-of-2"


def test_two_rank_training_is_reproducible_and_counts_every_rank(tmp_path):
    runs = []
    for name in ("a", "b"):
        done = launch(tmp_path / name)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1] and runs[0]["updates"] == 20 and runs[0]["examples"] == 20 * 16
    states = [load_checkpoint(tmp_path / n / "state.safetensors", kind="linear-test").tensors for n in "ab"]
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    log = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    assert report["examples_seen"] == 320 and len(log) == 4   # one log point every 5 updates, rank 0


def test_a_task_that_couples_its_batch_is_refused(tmp_path):
    done = launch(tmp_path / "c", "--coupled")
    assert done.returncode != 0 and "cannot train data-parallel" in done.stderr
