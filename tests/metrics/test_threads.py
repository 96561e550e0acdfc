"""Thread policy: environment parsing, the BLAS limit really applied, torch thread count set."""
from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from metrics import threads
from metrics.frechet import trace_sqrt_product


def blas_thread_counts() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_blas_threads_default_and_environment(monkeypatch):
    monkeypatch.delenv(threads.BLAS_THREADS_ENV, raising=False)
    assert threads.blas_threads() == threads.DEFAULT_BLAS_THREADS == 1
    monkeypatch.setenv(threads.BLAS_THREADS_ENV, " 3 ")
    assert threads.blas_threads() == 3


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_thread_counts_say_what_to_set(monkeypatch, bad):
    for env, read in ((threads.BLAS_THREADS_ENV, threads.blas_threads),
                      (threads.TORCH_THREADS_ENV, threads.torch_threads)):
        monkeypatch.setenv(env, bad)
        with pytest.raises(ValueError, match=f"{env} must be a positive integer"):
            read()


def test_limited_blas_applies_the_limit_and_restores_it(monkeypatch):
    monkeypatch.setenv(threads.BLAS_THREADS_ENV, "1")
    with threads.limited_blas(2):  # an outer setting (the test runs with OPENBLAS_NUM_THREADS=1)
        assert blas_thread_counts() == {2}
        with threads.limited_blas():
            assert blas_thread_counts() == {1}
            value = trace_sqrt_product(np.eye(4), 4 * np.eye(4)).value
        assert blas_thread_counts() == {2}
    assert value == pytest.approx(8.0)  # Tr sqrt(4 I) over 4 dimensions


def test_torch_threads_follow_the_affinity_mask_or_environment(monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(threads.TORCH_THREADS_ENV, raising=False)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert threads.apply_torch_threads() == threads.available_cpus() == torch.get_num_threads()
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what torch itself reads
        assert threads.apply_torch_threads() == 1
        monkeypatch.setenv(threads.TORCH_THREADS_ENV, "2")  # the project's variable wins
        assert threads.apply_torch_threads() == 2
        monkeypatch.setenv(threads.TORCH_THREADS_ENV, "1")
        assert threads.apply_torch_threads() == 1 == torch.get_num_threads()
        assert threads.apply_torch_threads(2) == 2 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
