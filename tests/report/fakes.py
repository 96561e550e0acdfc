"""Synthetic run folders for the report tests: results.json plus real (tiny) FLAC clips.

:func:`make_run` writes a run of 2 systems × 3 step counts. With ``modern=True`` (the default)
it follows the resolution schema: the protocol names its headline and Pareto metric, the run
has floor and ceiling rows (``anchors``), a ``resolution`` table, and FD carries the ``n<=d``
flag. The numbers are chosen so the expected report is known in closed form:

- ``kad@aisfx[ae-ref]`` ↓ (headline, Pareto metric): student/8 = 0.5 [0.45, 0.55] is the best and
  its CI clears every other row's, so it is the one highlighted cell; floor 0, ceiling 0.2.
- ``fd@aisfx`` ↓ (flag n<=d): student/8 = 3.5 [2.5, 5] overlaps teacher/8 = 4.75 [3.75, 6.25],
  so nothing is highlighted; floor 1, ceiling 5 (student/8 position 0.625).
- ``adherence`` ↑: teacher/8 = 0.87 [0.82, 0.92] overlaps student/8 = 0.82; floor 0.9, ceiling 0.8.
- ``kad@aisfx`` ↓: 12 ± 3 everywhere, verdict "does not resolve": marked, not in the headline.
- ``clap@clap-laion-audio``: unavailable everywhere (verdict "not computed").

``make_run(training={system: record})`` puts a training record on every row of those systems
(:func:`training_record` makes one); ``rules=`` sets the top-level ``training_rules``.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import soundfile as sf

EVIL = '<script>alert(1)</script> & "quotes"'
PROMPTS = [EVIL, "a dog barks", "a loud high tone", "rain on a roof"]
SYSTEMS = {"teacher": "heun", "student": "euler"}
STEPS = (2, 4, 8)
HEADLINE = ["kad@aisfx[ae-ref]", "kad@aisfx", "fd@aisfx", "adherence"]
PARETO = "kad@aisfx[ae-ref]"
ANCHOR_VALUES = {  # metric -> (floor, ceiling)
    "fd@aisfx": (1.0, 5.0), "adherence": (0.9, 0.8), "kad@aisfx": (0.0, 9.0), "kad@aisfx[ae-ref]": (0.0, 0.2)}
CLAP = {"value": None, "status": "unavailable", "reason": "laion-clap not installed",
        "higher_is_better": True}
RULES = {"teacher": "distilled accelerators: the same 1000 updates at batch 32", "scratch": "from scratch: "
         "the teacher's own budget"}


def fd_value(system: str, steps: int) -> float:
    return round((20.0 if system == "student" else 30.0) / steps + 1.0, 3)


def adherence_value(system: str, steps: int) -> float:
    return round(0.5 + 0.04 * steps + (0.05 if system == "teacher" else 0.0), 3)


def ae_kad_value(system: str, steps: int) -> float:
    return (4.0 if system == "student" else 10.0) / steps


def metric(value: float, lo: float, hi: float, up: bool, flags: list[str] | None = None) -> dict:
    out = {"value": value, "ci_low": lo, "ci_high": hi, "higher_is_better": up, "status": "ok"}
    return {**out, "flags": flags} if flags else out


def write_clips(run_dir, folder: str, n: int, freq_hz: float, seeds: bool = True) -> list[dict]:
    """``n`` short tones as FLAC under ``run_dir/audio/folder``; their audio entries."""
    audio = []
    for i, prompt in enumerate(PROMPTS[:n]):
        rel = f"audio/{folder}/test-{i:04d}.flac"
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(4000) / 16000
        sf.write(run_dir / rel, (0.3 * np.sin(2 * np.pi * (freq_hz + 50 * i) * t)).astype(np.float32), 16000)
        entry = {"item_id": f"test-{i:04d}", "prompt": prompt, "path": rel}
        audio.append({**entry, "seed": i} if seeds else entry)
    return audio


def system_metrics(system: str, steps: int, modern: bool) -> dict:
    fd, adh = fd_value(system, steps), adherence_value(system, steps)
    out = {"fd@aisfx": metric(fd, fd - 1.0, fd + 1.5, False, ["n<=d"] if modern else None),
           "adherence": metric(adh, adh - 0.05, adh + 0.05, True), "clap@clap-laion-audio": dict(CLAP)}
    if modern:
        kad = ae_kad_value(system, steps)
        out["kad@aisfx"] = metric(12.0, 9.0, 15.0, False)
        out["kad@aisfx[ae-ref]"] = metric(kad, kad * 0.9, kad * 1.1, False)
    return out


def make_row(run_dir, system: str, sampler: str, steps: int, modern: bool = True) -> dict:
    """One system row following the runner's schema, with real FLAC files for its clips."""
    row_id = f"{system}/{sampler}/{steps}"
    rtf = (400.0 if system == "student" else 150.0) / steps
    row = {"row_id": row_id, "system": system, "sampler": sampler, "steps": steps, "guidance": 3.0,
           "nfe": 2 * steps - 1, "extra_key": "tolerated", "metrics": system_metrics(system, steps, modern),
           "speed": {"profile": "cpu", "rtf": rtf, "latency_s": 0.01 * steps, "throughput_clips_per_s": 9.2,
                     "batch": 8, "peak_ram_mb": 812.0, "peak_vram_mb": None, "nfe": 2 * steps - 1},
           "audio": write_clips(run_dir, row_id, len(PROMPTS), 200 + 100 * steps)}
    return {**row, "role": "system"} if modern else row


def make_anchor(run_dir, role: str) -> dict:
    """A floor ('real') or ceiling ('autoencoder') row with the values of :data:`ANCHOR_VALUES`."""
    k = 0 if role == "floor" else 1
    metrics = {name: metric(v[k], v[k] - 0.01, v[k] + 0.01, name == "adherence",
                            ["n<=d"] if name == "fd@aisfx" else None) for name, v in ANCHOR_VALUES.items()}
    metrics["clap@clap-laion-audio"] = dict(CLAP)
    system = "real" if role == "floor" else "autoencoder"
    label = "real clips (floor)" if role == "floor" else "real clips through the autoencoder (ceiling)"
    return {"row_id": f"anchor/{role}", "role": role, "system": system, "sampler": "-", "steps": 0,
            "guidance": None, "nfe": None, "label": label,
            "construction": f"{role} clips of the same prompts",
            "metrics": metrics, "speed": {"skipped": True},
            "audio": write_clips(run_dir, f"anchors/{role}", 2, 900 + 200 * k, seeds=False)}


def resolution_table() -> dict:
    """Verdicts between teacher/heun/2 and teacher/heun/8."""
    def entry(verdict: str, diff: float, ci: list[float], h: list[float], rho: float | None) -> dict:
        return {"verdict": verdict, "fewest": "teacher/heun/2", "most": "teacher/heun/8", "difference": diff,
                "difference_ci": ci, "half_widths": h, "rank_agreement": rho, "reason": "synthetic"}
    return {"kad@aisfx[ae-ref]": entry("resolves", -3.75, [-4.1, -3.4], [0.5, 0.125], 1.0),
            "kad@aisfx": entry("does not resolve", 0.0, [-4.0, 4.0], [3.0, 3.0], None),
            "fd@aisfx": entry("resolves", -11.25, [-13.0, -9.5], [1.25, 1.25], 1.0),
            "adherence": entry("resolves", 0.24, [0.15, 0.33], [0.05, 0.05], 1.0),
            "clap@clap-laion-audio": {"verdict": "not computed",
                                      "reason": "the metric is not ok in both rows"}}


def training_record(system: str, **changes) -> dict:
    """A training record as the runner writes it: the teacher's (trained from data) or a student's."""
    if system == "teacher":
        record = {"updates": 4000, "batch": 64, "examples_seen": 256000, "train_wall_s": 1210.4,
                  "online_teacher_nfe": 0, "offline_teacher_nfe": 0, "peak_train_ram_mb": None,
                  "stopped_by": "max_updates", "trained_from": "data",
                  "rule": "the shared teacher: trained once per preset"}
    else:
        record = {"updates": 1000, "batch": 32, "examples_seen": 32000, "train_wall_s": 151.2,
                  "online_teacher_nfe": 0, "offline_teacher_nfe": 63488, "peak_train_ram_mb": 1450.3,
                  "stopped_by": "max_updates", "trained_from": "teacher", "rule": RULES["teacher"],
                  "budget": {"max_updates": 1000, "batch": 32, "max_wall_s": 900.0,
                             "max_teacher_nfe": 200000, "max_examples": None},
                  "store": "/cache/audioturbo-04e7", "sanity": {"student_1step_to_pair_x0": 0.01}}
    return {**record, **changes}


def results(run_dir, version: int = 1, modern: bool = True) -> dict:
    rows = [make_row(run_dir, s, sampler, n, modern) for s, sampler in SYSTEMS.items() for n in STEPS]
    protocol = {"name": "sfx-mini", "version": version, "hash": f"ab12{version}"}
    out = {"protocol": protocol, "created": "2026-11-22T05:00:00Z",
           "environment": {"git": "abc123", "device": "cpu", "packages": {"torch": "2.13.0"}},
           "rows": rows, "timings": {"total_s": 310.0, "generate_s": 120.0, "evaluate_s": 150.0,
                                     "overhead_s": 4.0}}
    if modern:
        protocol.update(headline=list(HEADLINE), pareto_metric=PARETO)
        out.update(anchors=[make_anchor(run_dir, "floor"), make_anchor(run_dir, "ceiling")],
                   resolution=resolution_table())
    return out


def add_training(data: dict, training: dict[str, dict], rules: dict | None) -> None:
    """Put ``training[system]`` on every row of that system; ``rules`` as the top-level training_rules."""
    for row in data["rows"]:
        if row["system"] in training:
            # a copy per row: an ``edit`` of one row must not reach the caller's record or other rows
            row["training"] = copy.deepcopy(training[row["system"]])
    if rules is not None:
        data["training_rules"] = dict(rules)


def make_run(root, name: str = "run-a", version: int = 1, modern: bool = True, edit=None,
             training: dict[str, dict] | None = None, rules: dict | None = None):
    """A run folder under ``root``; ``edit(results)`` may change the results before they are written."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    data = results(run_dir, version, modern)
    add_training(data, training or {}, rules)
    if edit is not None:
        edit(data)
    (run_dir / "results.json").write_text(json.dumps(data, indent=1))
    return run_dir
