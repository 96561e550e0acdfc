"""Checks of an evaluation's settings, run before any file is hashed or any backend loaded.

A bad number (``--batch-size 0``, ``--peak-dbfs nan``, ``--bootstrap 1``), an unknown device or
an output folder that cannot be written fails at once with ``SettingsError`` (exit code 2),
instead of after the work or half-way through it. Nothing is created here: ``--out`` is made
only when the results are written, so a refused call leaves no empty folder behind.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?|mps")


class SettingsError(ValueError):
    """An option value the evaluation cannot use; the message names the option and the fix."""


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def run_problems(batch_size, bootstrap, seed, ci_level) -> list[str]:
    """What is wrong with the numeric settings of one evaluation (empty: nothing)."""
    problems = []
    if not _is_int(batch_size) or batch_size < 1:
        problems.append(f"--batch-size must be an integer >= 1, got {batch_size!r}")
    if not _is_int(bootstrap) or bootstrap < 0 or bootstrap == 1:
        problems.append(f"--bootstrap must be 0 (no confidence interval) or an integer >= 2 "
                        f"(100-1000 is usual), got {bootstrap!r}; one replicate has no spread")
    if not _is_int(seed) or seed < 0:
        problems.append(f"--seed must be an integer >= 0, got {seed!r}")
    if not isinstance(ci_level, (int, float)) or not 0.0 < ci_level < 1.0:
        problems.append(f"--ci-level must lie strictly between 0 and 1 (e.g. 0.95), got {ci_level!r}")
    return problems


def io_problems(peak_dbfs, max_duration_s) -> list[str]:
    """What is wrong with the audio settings (empty: nothing)."""
    problems = []
    if peak_dbfs is not None and not (isinstance(peak_dbfs, (int, float)) and math.isfinite(peak_dbfs)
                                      and peak_dbfs <= 0.0):
        problems.append(f"--peak-dbfs must be a finite level <= 0 dBFS (SAM uses -1), got {peak_dbfs!r}")
    if not (isinstance(max_duration_s, (int, float)) and math.isfinite(max_duration_s)
            and max_duration_s > 0.0):
        problems.append(f"--max-duration-s must be a finite number of seconds > 0, got {max_duration_s!r}")
    return problems


def device_problem(device) -> str | None:
    """Why ``device`` cannot run here, or None (torch is imported only for a non-CPU device)."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        return f"--device {device!r}: expected cpu, cuda, cuda:N or mps"
    if device == "cpu":
        return None
    try:
        import torch
    except ImportError:
        return f"--device {device}: torch is not installed; use --device cpu"
    if device == "mps":
        return None if torch.backends.mps.is_available() else "--device mps: MPS is not available here"
    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    if not torch.cuda.is_available() or index >= count:
        return f"--device {device}: this machine has {count} usable CUDA device(s); use --device cpu"
    return None


def check_run_settings(*, batch_size, bootstrap, seed, ci_level, device) -> None:
    """Raise ``SettingsError`` listing every problem with the numeric settings and the device."""
    problems = run_problems(batch_size, bootstrap, seed, ci_level)
    problems += [p for p in [device_problem(device)] if p]
    if problems:
        raise SettingsError("; ".join(problems))


def folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot become (or be) a writable folder, or None. Creates nothing."""
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot be created: {existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot be written: {existing} is not writable by this user"
    return None


def check_out_dir(out: str | Path | None) -> Path | None:
    """``out`` as a Path once it is known to be usable for a new results.json; creates nothing."""
    if out is None:
        return None
    out = Path(out)
    if (out / "results.json").exists():
        raise FileExistsError(f"{out} already holds results.json; run folders are never "
                              "overwritten: choose a new --out")
    problem = folder_problem(out)
    if problem:
        raise SettingsError(f"--out {out} {problem}; choose another folder")
    return out
