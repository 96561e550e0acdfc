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
from pathlib import Path

LATENCY_REPEATS = 3


PROFILES = ("cpu", "gpu", "edge-cpu")
EDGE_THREADS = 4  # ARC's phone deployment ran on 4 CPU threads


def measure_speed(system, items, sampler: str, steps: int, guidance, protocol, nfe: int,
                  profile: str | None = None) -> dict:
    """Speed record for the protocol's speed profile.

    ``cpu``/``gpu``: the system as loaded. ``edge-cpu``: 4 threads, fp32 and dynamic int8
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
    with threads(EDGE_THREADS):
        fp32 = _measure(system, items, sampler, steps, guidance, protocol, nfe)
        int8 = _measure(system.quantized_int8(), items, sampler, steps, guidance, protocol, nfe)
    return {"profile": profile, "threads": EDGE_THREADS, **fp32, "int8": int8, "int8_rtf": int8["rtf"]}


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
    latencies = [timed(system, request(1))[0] for _ in range(LATENCY_REPEATS)]
    wall_s, audio_s = timed(system, request(protocol.speed_batch))
    return {"batch": protocol.speed_batch, "nfe": nfe,
            "latency_s": statistics.median(latencies),
            "throughput_clips_per_s": protocol.speed_batch / wall_s, "rtf": audio_s / wall_s,
            "rtf_definition": "seconds of audio generated per wall-clock second",
            "peak_ram_mb": peak_ram_mb(), "peak_ram_scope": scope, **peak_vram_mb()}


def timed(system, request) -> tuple[float, float]:
    """(wall seconds, seconds of audio) of one synchronised generate call."""
    sync()
    start = time.perf_counter()
    result = system.generate(request)
    sync()
    wall_s = time.perf_counter() - start
    return wall_s, result.audio.shape[0] * result.audio.shape[1] / result.sample_rate


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak_ram() -> str:
    """Reset the resident high-water mark (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return "timed calls"
    except OSError:
        return "process so far"


def peak_ram_mb() -> float | None:
    """VmHWM of this process in MB (Linux), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
