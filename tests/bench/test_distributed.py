"""``torchrun`` with 2 Gloo processes on CPU: a sharded micro run equals the 1-process run (every
metric value and CI, every clip byte), a crashed rank stops the run with a clear exit and
``--resume`` finishes it without redoing the clips on disk; the sharding rule itself."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common.dist import owned_batches

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "bench" / "_dist_run.py"
VOLATILE = ("created", "environment", "timings")


@pytest.mark.parametrize("n, batch", [(0, 4), (1, 4), (12, 4), (13, 4), (33, 16)])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_owned_batches_partition_the_items_into_canonical_batches(n, batch, world):
    spans = [span for rank in range(world) for span in owned_batches(n, batch, rank, world)]
    assert sorted(i for span in spans for i in span) == list(range(n))
    assert sorted((s.start, s.stop) for s in spans) == [(b, min(b + batch, n)) for b in range(0, n, batch)]
    for rank in range(world):
        assert all((s.start // batch) % world == rank for s in owned_batches(n, batch, rank, world))


def test_owned_batches_refuses_a_rank_outside_the_world():
    with pytest.raises(ValueError, match="rank 2 is not in 0..1"):
        owned_batches(8, 4, 2, 2)


@pytest.fixture(scope="module")
def components(tmp_path_factory) -> Path:
    """The micro components, trained once; each arm copies them into its own cache."""
    cache = tmp_path_factory.mktemp("dist-components")
    run([sys.executable, "-c", "from systems.components.shared import load_components; "
         "load_components('micro', progress=False)"], cache)
    return cache / "components"


def env_for(cache: Path) -> dict[str, str]:
    # one thread everywhere: a 1-process and a 2-process run must use the same kernels
    return {**os.environ, "FASTAUDIO_CACHE": str(cache), "FASTAUDIO_TORCH_THREADS": "1",
            "FASTAUDIO_BLAS_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def run(cmd: list[str], cache: Path, check: bool = True, **extra) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=ROOT, env={**env_for(cache), **extra}, capture_output=True, text=True,
                            timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def torchrun(args: list[str], cache: Path, check: bool = True, **extra) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                str(SCRIPT), *args], cache, check, **extra)


def fresh_cache(tmp_path: Path, name: str, components: Path) -> Path:
    cache = tmp_path / name
    shutil.copytree(components, cache / "components")
    return cache


def stable(results_path: Path) -> dict:
    results = json.loads(results_path.read_text())
    return {k: v for k, v in results.items() if k not in VOLATILE}


def clip_hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.glob("rows/**/audio/*.flac"))}


@pytest.fixture(scope="module")
def single(components, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dist-single")
    out = tmp / "run"
    run([sys.executable, str(SCRIPT), str(out)], fresh_cache(tmp, "cache", components))
    return out


def test_two_gloo_ranks_give_the_one_process_results_bit_for_bit(single, components, tmp_path):
    out = tmp_path / "run"
    torchrun([str(out)], fresh_cache(tmp_path, "cache", components))
    assert stable(out / "results.json") == stable(single / "results.json")
    assert clip_hashes(out) == clip_hashes(single) and len(clip_hashes(out)) == 2 * 12
    env = json.loads((out / "environment.json").read_text())
    assert env["dist"]["world_size"] == 2 and env["dist"]["backend"] == "gloo"


def test_a_crashed_rank_stops_the_run_and_resume_finishes_it_without_redoing_clips(single, components,
                                                                                   tmp_path):
    out, cache = tmp_path / "run", fresh_cache(tmp_path, "cache", components)
    crashed = torchrun([str(out)], cache, check=False, DIST_TEST_DIE_RANK="1")
    assert crashed.returncode != 0 and not (out / "results.json").exists()
    assert "exitcode:3" in crashed.stderr.replace(" ", "")   # torchrun names the crashed worker's exit
    done = {p: p.stat().st_mtime_ns for p in out.glob("rows/**/audio/*.flac")}
    assert done   # the killed run left finished clips behind
    torchrun([str(out), "--resume"], cache)
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in done.items())   # not generated again
    assert stable(out / "results.json") == stable(single / "results.json")


def test_a_diversity_set_made_by_rank_0_alone_keeps_the_ranks_in_step(components, tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    run([sys.executable, str(SCRIPT), str(single), "--diversity"], fresh_cache(tmp_path, "c1", components))
    torchrun([str(sharded), "--diversity"], fresh_cache(tmp_path, "c2", components))
    results = stable(sharded / "results.json")
    assert results == stable(single / "results.json")
    assert all("ccds@mel[div]" in row["metrics"] for row in results["rows"])
