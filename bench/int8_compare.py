"""fp32 vs dynamic int8 of one operating point on the ``edge-cpu`` thread count, in one process.

ARC's phone deployment quantises its DiT dynamically to int8 (weights int8, activations
quantised on the fly) and reports latency and peak memory before and after. This measures the
same pair for a card's ``int8_point``: the system as trained (fp32) and its
``quantized_int8()`` copy (``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear``),
same prompts, same noise, interleaved rounds (``bench.speed_compare``), at
``bench.speed.edge_threads()`` torch threads. Memory, three ways, because a 1.5 M-parameter model
is small beside the runtime: the serialised size of the sampled network, and per batch call the
process's resident high-water mark (VmHWM, reset before the call) and its rise over the resident
size before the call. The quality cost of int8 is judged from the protocol's int8 row, not here.
"""
from __future__ import annotations

import io
import statistics
from pathlib import Path

CALLS = 3


def int8_entry(protocol, ref):
    """The protocol's fp32 entry that runs ``ref`` (system, sampler, steps); None if none does."""
    for entry in protocol.systems:
        fp32 = entry.config.get("precision", "fp32") == "fp32"
        if fp32 and entry.system == ref.system and ref.sampler in entry.samplers and ref.steps in entry.steps:
            return entry
    return None


def measure_int8(ref, protocol, components, progress: bool = True) -> dict:
    """``{"point", "threads", "fp32": {...}, "int8": {...}}`` or ``{"missing": why}``."""
    from bench.runner import prompt_items
    from bench.speed import edge_threads, threads
    from bench.speed_compare import BATCH, build_point, compare_points

    entry = int8_entry(protocol, ref)
    if entry is None:
        return {"missing": f"no fp32 entry of {protocol.name} runs {ref.label()}"}
    fp32 = build_point(entry, components, progress=progress)
    points = {"fp32": fp32, "int8": fp32.quantized_int8()}
    items, n_threads = prompt_items(protocol), edge_threads()
    with threads(n_threads):
        timed = compare_points({k: (s, ref.sampler, ref.steps, entry.guidance) for k, s in points.items()},
                               items, protocol.duration_s, progress=progress)
        memory = {k: call_memory(s, ref, entry.guidance, items, protocol.duration_s, BATCH)
                  for k, s in points.items()}
    out = {k: {**timed[k], **memory[k], "model_mb": model_mb(points[k].sampling_network())} for k in points}
    return {"point": ref.label(), "threads": n_threads, **out}


def call_memory(system, ref, guidance, items, duration_s, batch: int) -> dict:
    """Median over ``CALLS`` batch calls of the resident peak and its rise over the RSS before."""
    from common.memory import peak_ram_mb, reset_peak_ram
    from systems.api import GenRequest

    chunk = [items[i % len(items)] for i in range(batch)]
    request = GenRequest(prompts=[it.prompt for it in chunk], seeds=[it.seed for it in chunk],
                         steps=ref.steps, guidance=guidance, duration_s=duration_s, sampler=ref.sampler)
    peaks, rises = [], []
    for _ in range(CALLS):
        scope = reset_peak_ram("this call")
        before = resident_mb()
        system.generate(request)
        peaks.append(peak_ram_mb())
        rises.append(peaks[-1] - before if before is not None else None)
    rise = statistics.median(rises) if None not in rises else None
    return {"peak_ram_mb": statistics.median(peaks), "ram_rise_mb": rise, "peak_ram_scope": scope}


def resident_mb() -> float | None:
    """VmRSS of this process in MB (Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def model_mb(module) -> float:
    """Serialised size of ``module``'s state dict (int8 weights pack 4× smaller than fp32)."""
    import torch

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.tell() / 2**20
