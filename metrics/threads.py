"""Thread policy: how many threads the BLAS under NumPy/SciPy and torch may use, set deliberately.

Why: BLAS and torch thread pools assume they own every core. On a 2-core machine with another
process busy, two OpenBLAS threads spin-wait on each other: FD at d = 512 took 5 s instead of
0.05 s single-threaded (issue 8). Measured here for the FD linear algebra (2-core AMD EPYC,
``test_fd_two_blas_threads_vs_one`` in ``tests/benchmarks/test_speed.py``, figures in
``reports/benchmarks/speed.json``), time with 2 BLAS threads vs 1:

- quiet machine (≤ 0.14 cores used by others): d = 2048 0.87 s vs 1.40 s, d = 512 0.023 s vs
  0.031 s: 2 threads 1.6× and 1.3× faster;
- a busy loop on one core: d = 2048 2.15 s vs 1.52 s, d = 512 4.26 s vs 0.070 s: 2 threads 1.4×
  and 61× slower (another user's job on one core did the same: 22× slower at d = 512 on average).

One thread loses at most 1.6× where the machine is yours and avoids 60× where it is not. Hence:

- BLAS: ``FASTAUDIO_BLAS_THREADS`` threads (default 1) inside :func:`limited_blas`, which the FD
  code wraps its linear algebra in. Raise it on a machine you have to yourself.
- torch: :func:`apply_torch_threads` sets ``torch.set_num_threads`` to ``FASTAUDIO_TORCH_THREADS``
  (else ``OMP_NUM_THREADS``; default: the CPUs this process may run on,
  ``os.sched_getaffinity``, so ``taskset`` and
  container CPU sets are respected). Commands that run torch (train, run) call it once at
  start-up; importing this module sets nothing.

Leaf module: imports nothing from the project and imports torch only when asked to.
"""
from __future__ import annotations

import os
from contextlib import AbstractContextManager
from functools import lru_cache

BLAS_THREADS_ENV = "FASTAUDIO_BLAS_THREADS"
TORCH_THREADS_ENV = "FASTAUDIO_TORCH_THREADS"
DEFAULT_BLAS_THREADS = 1


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a positive integer number of threads, got {text!r}; "
                         f"unset it to use the default")
    return value


def blas_threads() -> int:
    """Threads for the FD linear algebra: ``$FASTAUDIO_BLAS_THREADS`` or 1 (see module docstring)."""
    text = os.environ.get(BLAS_THREADS_ENV, "").strip()
    return _positive_int(BLAS_THREADS_ENV, text) if text else DEFAULT_BLAS_THREADS


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; all CPUs where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def torch_threads() -> int:
    """Intra-op threads for torch: ``$FASTAUDIO_TORCH_THREADS``, else ``$OMP_NUM_THREADS`` (what
    torch itself would read), else :func:`available_cpus`."""
    for name in (TORCH_THREADS_ENV, "OMP_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if text:
            return _positive_int(name, text)
    return available_cpus()


def apply_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count (``threads`` or :func:`torch_threads`); return it."""
    import torch

    n = torch_threads() if threads is None else _positive_int("threads", str(threads))
    torch.set_num_threads(n)
    return n


@lru_cache(maxsize=1)
def _controller():
    """One scan of the loaded native libraries (~1 ms) instead of one per FD call (~0.03 ms after).

    Built on first use; NumPy's and SciPy's BLAS are loaded by then (the FD module imports both).
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def limited_blas(threads: int | None = None) -> AbstractContextManager:
    """Context in which every loaded BLAS uses ``threads`` (default :func:`blas_threads`) threads."""
    n = blas_threads() if threads is None else _positive_int("threads", str(threads))
    return _controller().limit(limits=n, user_api="blas")
