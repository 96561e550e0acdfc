"""Resident-memory probes of this process (Linux ``/proc``; ``ru_maxrss`` elsewhere).

Peak RAM is the resident high-water mark (VmHWM). ``reset_peak_ram`` clears it through
``/proc/self/clear_refs`` (Linux ≥ 4.0), so a later ``peak_ram_mb`` measures only what came
after; where that is not allowed the peak covers the process so far, and the returned scope
says so.
"""
from __future__ import annotations

from pathlib import Path


def reset_peak_ram(scope: str = "timed calls") -> str:
    """Reset the resident high-water mark; returns ``scope`` on success, else "process so far"."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return scope
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
