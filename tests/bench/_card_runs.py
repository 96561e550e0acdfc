"""Synthetic runs for the reproduction-card tests: rows with paired, hand-made bootstrap replicates.

Each row has a quality q; every judged metric is linear in q (adherence = q ↑, the two KADs fall
with q ↓). Replicates = value + slope × (a noise shared by every row + a small row-specific
noise): the shared part cancels in differences, as paired bootstrap draws do, so the verdicts
follow from the q's below.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

B = 101
#: metric -> (intercept, slope in q, higher_is_better)
LINEAR = {"adherence": (0.0, 1.0, True), "kad@yamnet": (10.0, -5.0, False),
          "kad@aisfx[ae-ref]": (5.0, -2.0, False)}
TEACHER = {1: 0.2, 2: 0.4, 3: 0.5, 5: 0.6, 10: 0.7, 16: 0.72}  # δ(adherence) = 0.1 × 0.52
STUDENT = {1: 0.6, 2: 0.65, 3: 0.68, 5: 0.70, 10: 0.705}  # guidance 1.5
CFG_SWEEP = {1.0: 0.5, 3.0: 0.69, 5.0: 0.4}  # the student at 5 steps, other guidance
LAFMA = {3: 0.45, 5: 0.55, 10: 0.65, 25: 0.69}
ROW_NOISE = 0.002
SHARED = np.random.default_rng(0).normal(0.0, 0.05, B)


def metric(value: float, replicates, higher_is_better: bool) -> dict:
    reps = [float(x) for x in replicates]
    return {"value": float(value), "ci_low": min(reps), "ci_high": max(reps),
            "higher_is_better": higher_is_better, "status": "ok", "replicates": reps}


def row(system: str, sampler: str, steps: int, guidance: float, q: float, nfe: int) -> dict:
    seed = zlib.crc32(f"{system}/{sampler}/{steps}/{guidance}".encode())
    noise = SHARED + np.random.default_rng(seed).uniform(-ROW_NOISE, ROW_NOISE, B)
    metrics = {name: metric(a + b * q, a + b * q + b * noise, up) for name, (a, b, up) in LINEAR.items()}
    return {"row_id": f"{system}/{sampler}/{steps}", "role": "system", "system": system,
            "sampler": sampler, "steps": steps, "guidance": guidance, "nfe": nfe, "metrics": metrics,
            "speed": {"latency_s": 0.2 + 0.01 * nfe, "denoise_latency_s": 0.01 * nfe}}


TRAINING = {
    "teacher": {"updates": 6000, "batch": 32, "examples_seen": 192000, "train_wall_s": 420.0,
                "online_teacher_nfe": 0, "offline_teacher_nfe": 0, "peak_train_ram_mb": None,
                "stopped_by": "max_updates", "trained_from": "data",
                "rule": "the shared teacher: trained once per preset, the start of every accelerator"},
    "audioturbo": {"updates": 1500, "batch": 16, "examples_seen": 24000, "train_wall_s": 300.5,
                   "online_teacher_nfe": 0, "offline_teacher_nfe": 64000, "peak_train_ram_mb": 900.0,
                   "rule": "Budget <equal>: 1500 updates at batch 16 for every accelerator",
                   "stopped_by": "max_updates",
                   "sanity": {"student_1step_to_pair_x0": 0.01, "teacher_1step_to_pair_x0": 0.2}},
    "lafma": {"updates": 1500, "batch": 16, "examples_seen": 24000, "train_wall_s": 280.0,
              "online_teacher_nfe": 0, "offline_teacher_nfe": 0, "peak_train_ram_mb": 850.0,
              "rule": "Budget from scratch: 1500 updates at batch 16", "stopped_by": "max_updates"},
}


def card_rows(student: dict | None = None, cfg: dict | None = None, lafma: dict | None = None) -> list[dict]:
    """Every row of the audioturbo-card protocol (q's overridable)."""
    rows = [row("teacher", "euler", s, 3.0, q, 2 * s) for s, q in TEACHER.items()]
    rows.append(row("teacher", "heun", 16, 3.0, 0.73, 62))
    rows += [row("audioturbo", "euler", s, 1.5, q, 2 * s) for s, q in (student or STUDENT).items()]
    rows += [row("audioturbo", "euler", 5, g, q, 5 if g == 1.0 else 10)  # guidance 1: one call a step
             for g, q in (cfg or CFG_SWEEP).items()]
    rows += [row("lafma", "euler", s, 3.0, q, 2 * s) for s, q in (lafma or LAFMA).items()]
    for r in rows:
        if r["system"] in TRAINING:
            r["training"] = TRAINING[r["system"]]
    for r in rows:  # lafma reports no denoiser timing: the report falls back to end-to-end
        if r["system"] == "lafma":
            del r["speed"]["denoise_latency_s"]
    return rows


def card_results(rows: list[dict] | None = None, protocol: str = "audioturbo-card") -> dict:
    return {"protocol": {"name": protocol, "version": 1, "hash": "0123456789abcdef",
                         "resolution": {"system": "teacher", "sampler": "euler"}},
            "created": "2026-12-02T10:00:00Z",
            "environment": {"git": {"commit": "deadbeefcafe", "dirty": False}},
            "rows": card_rows() if rows is None else rows}


def write_run(folder: Path, results: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results))
    return folder
