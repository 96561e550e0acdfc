"""A small synthetic generated/reference pair written to disk, so ``make bench`` runs offline
on a machine without ../shared. Reference: tones, chirps and noise bursts with captions;
"generated": the same recipes with jittered parameters. Deterministic from ``seed``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

RATE, DURATION_S = 16000, 2.0
KINDS = ("a steady tone", "a rising chirp", "a burst of noise", "a pulsing beep")


def synth(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One [n] float32 clip of ``kind`` with random pitch, level and onset."""
    t = np.arange(int(RATE * DURATION_S)) / RATE
    f0 = rng.uniform(200, 1200)
    if kind == KINDS[0]:
        x = np.sin(2 * np.pi * f0 * t)
    elif kind == KINDS[1]:
        x = np.sin(2 * np.pi * (f0 * t + rng.uniform(200, 800) * t**2))
    elif kind == KINDS[2]:
        x = rng.standard_normal(len(t)) * (t > rng.uniform(0, 1.0)) * (t < rng.uniform(1.2, 2.0))
    else:
        x = np.sin(2 * np.pi * f0 * t) * (np.sin(2 * np.pi * rng.uniform(2, 6) * t) > 0)
    return (rng.uniform(0.1, 0.8) * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def write_demo(out: Path, per_kind: int = 12, seed: int = 0) -> None:
    for side, offset in (("ref", 0), ("gen", 1)):
        folder = out / side
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for k, kind in enumerate(KINDS):
            for i in range(per_kind):
                rng = np.random.default_rng([seed, offset, k, i])
                item_id = f"{side}-{k}-{i:03d}"
                sf.write(folder / f"{item_id}.wav", synth(kind, rng), RATE)
                rows.append({"id": item_id, "path": f"{side}/{item_id}.wav", "caption": kind})
        with open(out / f"{side}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["id", "path", "caption"])
            w.writeheader()
            w.writerows(rows)
