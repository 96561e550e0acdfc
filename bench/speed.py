"""Speed of one (system, sampler, steps) operating point: latency, throughput, RTF, NFE, peak memory.

RTF here = seconds of audio generated per wall-clock second (higher is faster; papers differ, so
every output states it). Protocol: one warm-up call, then the median of 3 batch-1 calls
(latency) and one call at the protocol's fixed batch (throughput, RTF). On CUDA the device is
synchronised around each timed call and peak VRAM is read after ``reset_peak_memory_stats``.
Peak RAM is the process's resident high-water mark (VmHWM) over the timed calls, reset first
through ``/proc/self/clear_refs`` where Linux allows it (else the process peak so far; the
``peak_ram_scope`` field says which).
"""
from __future__ import annotations

import statistics
import time

from common.memory import peak_ram_mb, reset_peak_ram  # noqa: F401  (re-exported)

LATENCY_REPEATS = 3


PROFILES = ("cpu", "gpu", "edge-cpu")
EDGE_THREADS = 4  # ARC's phone deployment ran on 4 CPU threads


def edge_threads() -> int:
    """The edge profile's torch threads: 4 (ARC's phone), or fewer on a machine with fewer cores —
    more threads than cores oversubscribe the CPU and time the contention, not the model."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(EDGE_THREADS, cores))


def measure_speed(system, items, sampler: str, steps: int, guidance, protocol, nfe: int,
                  profile: str | None = None) -> dict:
    """Speed record for the protocol's speed profile.

    ``cpu``/``gpu``: the system as loaded. ``edge-cpu``: ``edge_threads()`` threads, fp32 and dynamic int8
    quantisation of the linear layers (``torch.ao.quantization.quantize_dynamic``) reported side
    by side; the top-level fields are fp32, ``int8`` holds the quantised measurement.
    """
    profile = profile or protocol.speed_profile
    if profile not in PROFILES:
        raise ValueError(f"unknown speed profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if profile == "gpu" and not _cuda():
        raise ValueError("speed profile 'gpu' needs CUDA (run with --device cuda on a GPU machine); "
                         "use 'cpu' or 'edge-cpu' here")
    if profile != "edge-cpu":
        return {"profile": profile, **_measure(system, items, sampler, steps, guidance, protocol, nfe)}
    n_threads = edge_threads()
    with threads(n_threads):
        fp32 = _measure(system, items, sampler, steps, guidance, protocol, nfe)
        int8 = _measure(system.quantized_int8(), items, sampler, steps, guidance, protocol, nfe)
    return {"profile": profile, "threads": n_threads, **fp32, "int8": int8, "int8_rtf": int8["rtf"]}


class threads:
    """Temporarily set torch's intra-op thread count."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self):
        import torch

        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.previous)


def _measure(system, items, sampler: str, steps: int, guidance, protocol, nfe: int) -> dict:
    from systems.api import GenRequest

    def request(n: int) -> GenRequest:
        chunk = [items[i % len(items)] for i in range(n)]
        return GenRequest(prompts=[it.prompt for it in chunk], seeds=[it.seed for it in chunk], steps=steps,
                          guidance=guidance, duration_s=protocol.duration_s, sampler=sampler)

    system.generate(request(1))  # warm-up: lazy imports, allocator, kernels
    scope = reset_peak_ram()
    reset_vram()
    single = [timed(system, request(1)) for _ in range(LATENCY_REPEATS)]
    wall_s, audio_s, phases = timed(system, request(protocol.speed_batch))
    return {"batch": protocol.speed_batch, "nfe": nfe,
            "latency_s": statistics.median(s[0] for s in single),
            **_denoise_times(single, phases),
            "throughput_clips_per_s": protocol.speed_batch / wall_s, "rtf": audio_s / wall_s,
            "rtf_definition": "seconds of audio generated per wall-clock second",
            "peak_ram_mb": peak_ram_mb(), "peak_ram_scope": scope, **peak_vram_mb()}


def _denoise_times(single: list, batch_phases: dict) -> dict:
    """The denoiser's share of the timed calls, when the system reports it (``denoise_s``).

    NFE governs only this phase; text encoding and decoding (Griffin-Lim) do not shrink with
    fewer steps, so speed-vs-NFE claims are judged on it (end-to-end latency is kept beside it).
    """
    if any("denoise_s" not in s[2] for s in single) or "denoise_s" not in batch_phases:
        return {}
    return {"denoise_latency_s": statistics.median(s[2]["denoise_s"] for s in single),
            "denoise_batch_s": batch_phases["denoise_s"]}


def timed(system, request) -> tuple[float, float, dict]:
    """(wall seconds, seconds of audio, the system's phase timings) of one synchronised call."""
    sync()
    start = time.perf_counter()
    result = system.generate(request)
    sync()
    wall_s = time.perf_counter() - start
    return wall_s, result.audio.shape[0] * result.audio.shape[1] / result.sample_rate, result.timings_s


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_vram() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_vram_mb() -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"peak_vram_mb": None, "peak_vram_reserved_mb": None}
    return {"peak_vram_mb": torch.cuda.max_memory_allocated() / 2**20,
            "peak_vram_reserved_mb": torch.cuda.max_memory_reserved() / 2**20}
