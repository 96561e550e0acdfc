"""The benchmark runner: protocol versions, results schema, caching, resume after a kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.protocols import PROTOCOLS, get_protocol
from bench.protocols.base import SystemEntry
from bench.runner import RunError, run_protocol

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "bench" / "protocols" / "versions.json"


def micro_protocol(steps=(1, 2)):
    return replace(get_protocol("sfx-mini"), name="micro-test", preset="micro",
                   prompts={"source": "sfx", "split": "test", "n": 3, "seed": 0},
                   reference={"source": "sfx", "split": "test", "n": 6, "seed": 1},
                   systems=(SystemEntry("teacher", samplers=("euler",), steps=steps),),
                   metrics=("fd@mel", "kad@mel", "ccds@mel", "adherence"), ae_ref_metrics=("kad@mel",),
                   headline=("adherence", "kad@mel[ae-ref]"), pareto_metric="adherence",
                   bootstrap=10, speed_batch=2)


@pytest.fixture
def shared_cache(tmp_path_factory, monkeypatch):
    """One cache for the whole module's runs (components train once)."""
    path = tmp_path_factory.getbasetemp() / "runner-cache"
    monkeypatch.setenv("FASTAUDIO_CACHE", str(path))
    return path


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_protocol_changes_need_a_version_bump(name):
    pinned = json.loads(VERSIONS.read_text())[name]
    protocol = get_protocol(name)
    assert protocol.version >= pinned["version"]
    if protocol.version == pinned["version"]:
        assert protocol.hash() == pinned["hash"], (
            f"protocol {name!r} changed without a version bump: bump `version` in its file and update "
            f"bench/protocols/versions.json")


def test_protocol_hash_covers_every_field():
    base = get_protocol("sfx-mini")
    assert replace(base, generations_per_prompt=3).hash() != base.hash()
    assert replace(base, metrics=base.metrics[:-1], headline=(), pareto_metric=None).hash() != base.hash()
    assert replace(base, headline=base.headline[:1]).hash() != base.hash()


def test_sfx_mini_meets_the_leaderboard_brief():
    p = get_protocol("sfx-mini")
    teacher = [e for e in p.systems if e.system == "teacher"]
    assert max(len(e.steps) for e in teacher) >= 4 and len({s for e in teacher for s in e.samplers}) >= 2
    assert p.generations_per_prompt >= 2 and set(p.headline) <= set(p.metric_names())
    for spec in ("fd@aisfx", "kad@aisfx", "prdc@aisfx", "fd@yamnet", "kad@yamnet", "prdc@yamnet",
                 "is@yamnet", "ccds@aisfx", "adherence"):
        assert spec in p.metrics
    assert any(m.startswith("kl@yamnet") for m in p.metrics)


def test_run_writes_self_describing_results_and_refuses_to_overwrite(shared_cache, tmp_path):
    out = tmp_path / "run"
    results = run_protocol(micro_protocol(), out, progress=False)
    assert {"protocol", "environment", "rows", "anchors", "resolution", "timings", "components",
            "metrics"} <= set(results)
    assert results["protocol"]["headline"] == ["adherence", "kad@mel[ae-ref]"]
    row = results["rows"][0]
    assert row["row_id"] == "teacher/euler/1" and row["nfe"] == 2 and row["role"] == "system"  # CFG doubles
    assert set(row["metrics"]) == {"fd@mel", "kad@mel", "ccds@mel", "adherence", "kad@mel[ae-ref]"}
    assert row["metrics"]["adherence"]["ci_low"] <= row["metrics"]["adherence"]["value"]
    assert len(row["metrics"]["kad@mel"]["replicates"]) == 10
    assert row["speed"]["rtf"] > 0 and row["speed"]["peak_ram_mb"] > 0
    assert (out / row["audio"][0]["path"]).exists()
    assert json.loads((out / "config.json").read_text())["hash"] == micro_protocol().hash()
    with pytest.raises(RunError, match="already holds a run"):
        run_protocol(micro_protocol(), out, progress=False)


def test_floor_and_ceiling_rows_bracket_the_systems(shared_cache, tmp_path):
    """Floor = fresh real renders of the same prompts; ceiling = those through the autoencoder."""
    out = tmp_path / "run"
    results = run_protocol(micro_protocol(), out, progress=False, speed=False)
    floor, ceiling = results["anchors"]
    assert (floor["role"], floor["system"], ceiling["role"], ceiling["system"]) == (
        "floor", "real", "ceiling", "autoencoder")
    assert [a["item_id"] for a in floor["audio"]] == [a["item_id"] for a in results["rows"][0]["audio"]]
    assert all((out / a["path"]).exists() for a in floor["audio"] + ceiling["audio"])
    assert floor["metrics"]["adherence"]["value"] == 1.0  # real clips state every attribute
    assert set(floor["metrics"]) == set(results["rows"][0]["metrics"])
    assert {"fd@mel", "kad@mel[ae-ref]", "adherence"} <= set(results["resolution"])
    verdict = results["resolution"]["adherence"]
    assert verdict["fewest"] == "teacher/euler/1" and verdict["most"] == "teacher/euler/2"


def test_floor_renders_are_new_realisations_of_the_prompts():
    from bench.anchors import floor_render_seed
    from common.sfx.dataset import make_items

    seeds = [it.seed for it in make_items("test", 64, seed=0)]
    floor = {floor_render_seed(s, g) for s in seeds[:16] for g in range(4)}
    assert len(floor) == 64 and not floor & set(seeds)


def test_row_cache_key_covers_metric_versions_and_backend_weights(tmp_path, monkeypatch):
    """Pointing a backend at other weights (or bumping a metric's version) changes the row key."""
    from bench import row_metrics
    from metrics.frechet import FrechetDistance

    protocol = micro_protocol()
    refs = {"raw": tmp_path / "ref.csv"}
    (tmp_path / "ref.csv").write_text("id,path\n")
    monkeypatch.setattr(row_metrics, "reference_fingerprint", lambda p: "same refs")
    weights = [tmp_path / "a.tflite", tmp_path / "b.tflite"]
    weights[0].write_bytes(b"one")
    weights[1].write_bytes(b"two")
    keys = []
    for w in weights:
        monkeypatch.setenv("FASTAUDIO_YAMNET", str(w))
        keys.append(row_metrics.row_key(protocol, ["c"], refs, row_metrics.metric_fingerprint(["fd@yamnet"])))
    assert keys[0] != keys[1]
    before = row_metrics.metric_fingerprint(["fd@mel"])
    monkeypatch.setattr(FrechetDistance, "info", replace(FrechetDistance.info, version=99))
    assert row_metrics.metric_fingerprint(["fd@mel"]) != before


def test_unchanged_rerun_reuses_generations(shared_cache, tmp_path, monkeypatch):
    from systems.teacher import TeacherSystem

    run_protocol(micro_protocol(), tmp_path / "a", progress=False, speed=False)
    calls = []
    original = TeacherSystem.generate
    monkeypatch.setattr(TeacherSystem, "generate", lambda self, req: calls.append(req) or original(self, req))
    again = run_protocol(micro_protocol(), tmp_path / "b", progress=False, speed=False)
    assert calls == []  # every clip came from the generation cache
    assert again["rows"][0]["nfe"] == 2
    assert len(list((shared_cache / "rows").glob("*.json"))) >= 2  # row metrics cached too


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
import bench.runner as runner
from tests.bench.test_runner import micro_protocol
slow = runner.evaluate_row
def evaluate_row(*args, **kwargs):
    out = slow(*args, **kwargs)
    time.sleep(1.5)
    return out
runner.evaluate_row = evaluate_row
runner.run_protocol(micro_protocol(steps=(1, 2, 4)), {out!r}, progress=False, speed=False)
"""


def test_killed_run_resumes_without_redoing_finished_rows(shared_cache, tmp_path):
    run_protocol(micro_protocol(steps=(1,)), tmp_path / "warm", progress=False, speed=False)  # train once
    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(root=str(ROOT), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ))
    first = out / "rows" / "teacher" / "euler" / "1" / "row.json"
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists() and not (out / "results.json").exists()
    stamp = first.stat().st_mtime_ns
    resumed = run_protocol(micro_protocol(steps=(1, 2, 4)), out, resume=True, progress=False, speed=False)
    assert first.stat().st_mtime_ns == stamp  # the finished row was not recomputed
    fresh = run_protocol(micro_protocol(steps=(1, 2, 4)), tmp_path / "fresh", progress=False, speed=False,
                         cache=False)  # recomputes every clip and metric
    assert [r["metrics"] for r in resumed["rows"]] == [r["metrics"] for r in fresh["rows"]]


def test_edge_cpu_profile_reports_fp32_and_int8(shared_cache, tmp_path):
    results = run_protocol(micro_protocol(steps=(2,)), tmp_path / "edge", progress=False,
                           speed_profile="edge-cpu")
    speed = results["rows"][0]["speed"]
    from bench.speed import edge_threads

    assert speed["profile"] == "edge-cpu" and speed["threads"] == edge_threads()
    assert speed["rtf"] > 0 and speed["int8"]["rtf"] > 0 and speed["int8"]["nfe"] == speed["nfe"]


def test_gpu_profile_without_cuda_is_a_clear_error(shared_cache, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: the gpu profile runs")
    with pytest.raises(ValueError, match="needs CUDA"):
        run_protocol(micro_protocol(steps=(1,)), tmp_path / "gpu", progress=False, speed_profile="gpu")


def test_int8_teacher_stays_close_to_fp32(shared_cache):
    from systems.api import GenRequest
    from systems.components.shared import load_components
    from systems.teacher import TeacherSystem

    system = TeacherSystem.from_components(load_components("micro", progress=False))
    request = GenRequest(prompts=("a loud tone",), seeds=(0,), steps=2)
    fp32, int8 = system.generate(request), system.quantized_int8().generate(request)
    assert int8.audio.shape == fp32.audio.shape and int8.nfe == fp32.nfe
    assert np.isfinite(int8.audio).all()


def test_esc50_protocol_reads_prompts_and_references_from_the_manifest(shared):
    from bench.runner import prompt_items, reference_manifest

    protocol = get_protocol("esc50")
    items = prompt_items(protocol)
    assert len(items) == 50 * protocol.generations_per_prompt  # one caption per ESC-50 class
    assert len({it.prompt for it in items}) == 50
    assert reference_manifest(protocol) == shared / "data" / "esc50-cc" / "manifest.csv"


def test_esc50_protocol_without_shared_data_is_a_clear_error(monkeypatch, tmp_path):
    from bench.runner import reference_manifest

    monkeypatch.setenv("FASTAUDIO_SHARED", str(tmp_path / "absent"))
    with pytest.raises(RunError, match="needs the shared data folder"):
        reference_manifest(get_protocol("esc50"))


def test_unavailable_metrics_are_not_cached(shared_cache, tmp_path, monkeypatch):
    """A metric unavailable on this machine must be retried next run, not served from the cache."""
    monkeypatch.setenv("FASTAUDIO_YAMNET", str(tmp_path / "no-yamnet.tflite"))
    monkeypatch.setenv("FASTAUDIO_SHARED", str(tmp_path / "no-shared"))  # nor ../shared's copy
    protocol = replace(micro_protocol(steps=(1,)), metrics=("fd@mel", "is@yamnet"), headline=(),
                       pareto_metric=None)
    first = run_protocol(protocol, tmp_path / "a", progress=False, speed=False)
    assert first["rows"][0]["metrics"]["is@yamnet"]["status"] != "ok"
    assert first["rows"][0]["metrics"]["fd@mel"]["status"] == "ok"
    key_files = list((shared_cache / "rows").glob("*.json"))
    run_protocol(protocol, tmp_path / "b", progress=False, speed=False)
    assert list((shared_cache / "rows").glob("*.json")) == key_files  # nothing new cached for it
