"""Benchmark fixtures: a session weights cache, synthetic 5-s 44.1 kHz clips, timing helpers, a busy
machine (a background busy loop) and a meter of the CPU load other processes put on the machine."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from common.sources import Item

CLIP_S, CLIP_RATE = 5.0, 44100


@pytest.fixture(scope="session")
def bench_cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(autouse=True)
def isolated_cache(bench_cache_root, monkeypatch):
    """Overrides tests/conftest.py: converted weights (aisfx) are made once per session, not per
    test. Embedding caches are always explicit in the benchmarks (``None`` or a tmp folder)."""
    monkeypatch.setenv("FASTAUDIO_CACHE", str(bench_cache_root))


def synthetic_clip(seed: int, seconds: float = CLIP_S, rate: int = CLIP_RATE) -> np.ndarray:
    """A chirp-plus-noise clip, different per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 150.0 + 60.0 * (seed % 20)
    x = 0.3 * np.sin(2 * np.pi * (f0 * t + 40.0 * t**2)) + 0.05 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def write_clips(folder: Path, n: int, seed0: int) -> list[Item]:
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, synthetic_clip(seed0 + i), CLIP_RATE, subtype="FLOAT")
        items.append(Item(path.stem, path))
    return items


@pytest.fixture(scope="module")
def clip_items(tmp_path_factory) -> list[Item]:
    """24 synthetic 5-s 44.1 kHz wav files."""
    return write_clips(tmp_path_factory.mktemp("clips"), 24, seed0=0)


@pytest.fixture(scope="module")
def eval_folders(tmp_path_factory) -> tuple[Path, Path]:
    """(gen, ref) folders of 12 synthetic 5-s clips each."""
    root = tmp_path_factory.mktemp("eval")
    write_clips(root / "gen", 12, seed0=100)
    write_clips(root / "ref", 12, seed0=200)
    return root / "gen", root / "ref"


def n_rounds(benchmark, rounds: int) -> int:
    """Rounds for hand-timed baselines: 1 when benchmarks are disabled (smoke run)."""
    return 1 if benchmark.disabled else rounds


def timed(fn, *args, rounds: int = 1, **kwargs) -> tuple[object, list[float]]:
    """Last result of ``fn`` and its wall time per round (time.perf_counter)."""
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return out, times


def record_ratio(benchmark, baseline_s: list[float], key: str, **info) -> None:
    """Store baseline timings and baseline/benchmark ratios (min and mean) in extra_info."""
    benchmark.extra_info.update(info)
    benchmark.extra_info[f"{key}_baseline_min_s"] = min(baseline_s)
    benchmark.extra_info[f"{key}_baseline_mean_s"] = float(np.mean(baseline_s))
    if benchmark.stats is None:  # --benchmark-disable: no timings of our own to compare
        return
    ours = benchmark.stats.stats
    benchmark.extra_info["ours_min_s"] = ours.min
    benchmark.extra_info["ours_mean_s"] = ours.mean
    benchmark.extra_info[key] = min(baseline_s) / ours.min
    benchmark.extra_info[f"{key}_mean"] = float(np.mean(baseline_s)) / ours.mean


#: the busy loop exits by itself after this long, even if pytest is killed before its teardown
BUSY_MAX_S = 900
BUSY_LOOP = ("import time\nend = time.monotonic() + {max_s}\n"
             "while time.monotonic() < end:\n    pass\n")


@pytest.fixture
def busy_machine():
    """Another process spinning one core for the test's duration, as when someone else's job runs."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(max_s=BUSY_MAX_S)])
    time.sleep(0.5)  # let it get scheduled before anything is timed
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _machine_busy_s() -> float | None:
    """CPU seconds all processes have spent (/proc/stat, non-idle), or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoadMeter:
    """Cores kept busy by *other* processes between construction and :meth:`read` (machine CPU
    time minus this process's, per wall second); what "quiet" and "busy" really were."""

    def __init__(self) -> None:
        self.wall, self.machine, self.own = time.perf_counter(), _machine_busy_s(), _own_cpu_s()

    def read(self) -> dict:
        wall = time.perf_counter() - self.wall
        machine = _machine_busy_s()
        info = {"cpus": os.cpu_count(), "loadavg_1min_end": os.getloadavg()[0]}
        if machine is not None and self.machine is not None and wall > 0:
            others = (machine - self.machine) - (_own_cpu_s() - self.own)
            info["other_processes_cores"] = round(max(others, 0.0) / wall, 2)
        return info
