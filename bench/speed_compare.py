"""Speed of several operating points compared in one process: interleaved rounds, medians.

A speed claim (speedup vs NFE ratio) compares timings of different systems, so they are taken
the way the brief asks: same prompts, same noise, same machine, one run — and, here, interleaved
(round r times every point once, in turn) so that drift of the machine (frequency, another
process) falls on every point alike. Each call is a batch of ``batch`` items of the protocol;
the median over ``rounds`` calls is reported for the denoiser's share (``GenResult.timings_s
["denoise_s"]``: the phase NFE governs) and for the whole call (text encoding and Griffin-Lim
decoding included, which fewer steps do not shrink).
"""
from __future__ import annotations

import statistics

from tqdm.auto import tqdm

ROUNDS, BATCH = 7, 8


def entry_for(protocol, system: str, sampler: str, steps: int, guidance: float | None = None):
    """The protocol entry that runs ``system`` at (sampler, steps[, guidance]); None if none does.
    An entry with the system's own settings (empty config) wins over a variant (e.g. ν = 1.5)."""
    for entry in sorted(protocol.systems, key=lambda e: bool(e.config)):
        same = entry.system == system and sampler in entry.samplers and steps in entry.steps
        if same and (guidance is None or entry.guidance in (None, guidance)):
            return entry
    return None


def build_point(entry, components, progress: bool = False):
    """The entry's system on the shared components, trained (or reused from the store) if it must be."""
    from bench.runner import build_system

    system = build_system(entry, components)
    if system.kind == "accelerator":
        system.fit(entry.budget, settings=entry.train, progress=progress)
    return system


def compare_points(points: dict[str, tuple], items, duration_s, rounds: int = ROUNDS, batch: int = BATCH,
                   progress: bool = True) -> dict[str, dict]:
    """``points``: label -> (system, sampler, steps, guidance). Median seconds per call, NFE."""
    from bench.speed import timed
    from systems.api import GenRequest

    chunk = [items[i % len(items)] for i in range(batch)]
    requests = {label: GenRequest(prompts=[it.prompt for it in chunk], seeds=[it.seed for it in chunk],
                                  steps=steps, guidance=guidance, duration_s=duration_s, sampler=sampler)
                for label, (_, sampler, steps, guidance) in points.items()}
    nfe = {label: points[label][0].generate(request).nfe for label, request in requests.items()}  # warm-up
    calls: dict[str, list] = {label: [] for label in points}
    for _ in tqdm(range(rounds), desc="interleaved speed rounds", disable=not progress, leave=False):
        for label, request in requests.items():
            calls[label].append(timed(points[label][0], request))
    return {label: _summary(calls[label], nfe[label], batch) for label in points}


def _summary(calls: list, nfe: int, batch: int) -> dict:
    """Medians of the timed calls; no denoiser time (None) when the system does not report it."""
    phases = [c[2] for c in calls]
    denoise = [p["denoise_s"] for p in phases if "denoise_s" in p]
    return {"nfe": nfe, "batch": batch, "rounds": len(calls),
            "wall_s": statistics.median(c[0] for c in calls),
            "denoise_s": statistics.median(denoise) if len(denoise) == len(calls) else None}
