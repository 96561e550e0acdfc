"""One process or several: the ``torch.distributed`` helpers every sharded command uses.

Launch with ``torchrun --nproc-per-node N -m bench …`` (multi-node: torchrun's usual
``--nnodes/--node-rank/--rdzv-endpoint`` flags). :func:`init_from_env` joins the process group
that torchrun describes in the environment (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR`` …): Gloo on
CPU, NCCL on CUDA. Without those variables (a plain ``python -m bench``) every helper here is the
1-process identity, so the code paths are the same.

Sharding rule (``owned_batches``): work is cut into the *canonical batches* of the 1-process run
(items ``[b·B, (b+1)·B)`` for a batch size B), and batch b belongs to rank ``b mod W``. Ownership is
a function of the item index alone, and every batch is composed exactly as in a 1-process run, so
a clip (and any embedding) is the same whichever rank computes it: a batch's numbers can depend
on its composition (batched kernels), never on the rank.

Failure policy: rank 0 takes every decision that gates a collective (``on_main``) and broadcasts
it, errors included, so all ranks raise the same error instead of waiting on each other. A rank
that dies makes torchrun stop the group; collectives time out after ``FASTAUDIO_DIST_TIMEOUT_S``
seconds (default 7200: longer than any rank-0-only phase, e.g. one row's metrics and speed).
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Callable

TIMEOUT_ENV = "FASTAUDIO_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 7200.0


class DistError(RuntimeError):
    """An error raised on rank 0 inside ``on_main``, re-raised on every other rank."""


def _dist():
    import torch.distributed as dist

    return dist


def launched() -> bool:
    """Whether torchrun (or an equivalent launcher) asked for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group of more than one rank is initialised."""
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_from_env(device: str = "cpu") -> bool:
    """Join the launcher's process group (Gloo on CPU, NCCL on CUDA); False for a plain 1-process run."""
    if not launched() or _dist().is_initialized():
        return active()
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    backend = "nccl" if str(device).startswith("cuda") else "gloo"
    if backend == "nccl":
        import torch

        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    _dist().init_process_group(backend=backend, timeout=timeout)
    return True


def rank() -> int:
    return _dist().get_rank() if active() else 0


def world_size() -> int:
    return _dist().get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def rank_label() -> str:
    """`` (rank r of W)`` in a sharded run, "" otherwise: for messages."""
    return f" (rank {rank()} of {world_size()})" if active() else ""


def barrier() -> None:
    if active():
        _dist().barrier()


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (pickled; small objects only)."""
    if not active():
        return value
    box = [value if is_main() else None]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not active():
        return [value]
    out: list[Any] = [None] * world_size()
    _dist().all_gather_object(out, value)
    return out


def on_main(fn: Callable[[], Any]) -> Any:
    """``fn()`` on rank 0 only; its result (or its error, as the same exception type when it can be
    rebuilt from its message, else ``DistError``) on every rank."""
    outcome: tuple[str, Any]
    if is_main():
        try:
            outcome = ("ok", fn())
        except Exception as exc:  # noqa: BLE001 - shipped to every rank, then raised everywhere
            if not active():
                raise
            outcome = ("error", (type(exc), str(exc)))
    else:
        outcome = ("", None)
    kind, value = broadcast(outcome)
    if kind == "error":
        cls, message = value
        try:
            error = cls(message)
        except Exception:  # noqa: BLE001 - an exception type that needs other arguments
            error = DistError(f"{cls.__name__} on rank 0: {message}")
        raise error
    return value


def owned_batches(n_items: int, batch: int, rank_: int | None = None,
                  world: int | None = None) -> list[range]:
    """The canonical batches (item index ranges) rank ``rank_`` of ``world`` owns: batch b → rank b mod W."""
    if batch < 1 or n_items < 0:
        raise ValueError(f"owned_batches needs batch >= 1 and n_items >= 0, got {batch}, {n_items}")
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if not 0 <= rank_ < world:
        raise ValueError(f"rank {rank_} is not in 0..{world - 1}")
    starts = range(0, n_items, batch)
    return [range(s, min(s + batch, n_items)) for b, s in enumerate(starts) if b % world == rank_]


def on_all(fn: Callable[[], Any]) -> Any:
    """``fn()`` on every rank; then every rank learns whether any rank failed and raises the first
    rank's error (a ``DistError`` naming it) instead of waiting for the failed rank forever."""
    try:
        value, failure = fn(), None
    except Exception as exc:  # noqa: BLE001 - shared with every rank below
        if not active():
            raise
        value, failure = None, f"{type(exc).__name__} on rank {rank()}: {exc}"
    failures = [f for f in gather(failure) if f]
    if failures:
        raise DistError(failures[0])
    return value


def main_only(fn: Callable[[], Any]) -> Any:
    """``fn()`` on rank 0 (its result there, None elsewhere); an error on rank 0 is raised on every rank."""
    box: list[Any] = []
    on_main(lambda: box.append(fn()))
    return box[0] if box else None


def describe() -> dict[str, Any]:
    """What the run's environment.json records about the process group."""
    if not active():
        return {"world_size": 1}
    return {"world_size": world_size(), "backend": _dist().get_backend(),
            "local_world_size": int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
            "timeout_s": float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))}
