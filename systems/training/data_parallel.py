"""Data-parallel training over the ranks of a ``torchrun`` launch (``bench train --data-parallel``).

Switched on by ``FASTAUDIO_DATA_PARALLEL=1`` inside an initialised process group of W > 1 ranks
(:mod:`common.dist`); otherwise every helper is the 1-process identity and training is unchanged.
Not ``nn.parallel.DistributedDataParallel``: tasks call submodule methods outside ``forward`` and
alternate the parameters they update (ARC), so the trainer averages the gradients itself — the
same maths as DDP (one all-reduce of the flattened gradients, divided by W, before clipping).

Rules (what makes a W-rank run reproducible):

- **Batch**: update i's global batch is ``task.batch(i)`` as in a 1-process run (B examples, from
  ``seeded_order``); rank r trains on the contiguous slice ``[r·B/W, (r+1)·B/W)`` of every tensor
  or list of length B. B must be a multiple of W. Only tasks that say ``data_parallel = True``
  (their loss is a mean over independent examples) are accepted.
- **Seeds**: rank r of W draws its noise from ``derive_seed(seed, i, "noise/r-of-W")`` and re-seeds
  the global RNG from ``derive_seed(seed, i, "global/r-of-W")``: a run is a function of (seed, W),
  bitwise reproducible across launches and resumable, but not equal to the 1-process run (other
  noise per example, and the all-reduce sums in another order).
- **Budget, counted globally**: examples and online teacher NFE are summed over the ranks; rank 0
  decides when the budget is spent (wall time included) and every rank stops at that update.
- **Files**: rank 0 alone writes the checkpoint, log and report; every rank resumes from the same
  checkpoint. The component store keys the trained weights with ``data_parallel: W`` so a W-rank
  model never stands in for a 1-process one.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import torch
from torch import Tensor

from common import dist

ENV = "FASTAUDIO_DATA_PARALLEL"


def enabled() -> bool:
    """Whether this process trains data-parallel (asked for, in a group of more than one rank)."""
    return os.environ.get(ENV) == "1" and dist.active()


def world() -> int:
    return dist.world_size() if enabled() else 1


def stream(name: str, world_size: int, rank: int) -> str:
    """The seed stream name of ``name`` on ``rank`` of ``world_size`` (unchanged for one process)."""
    return name if world_size == 1 else f"{name}/{rank}-of-{world_size}"


def check_task(task: Any, world_size: int) -> None:
    if world_size > 1 and not getattr(task, "data_parallel", False):
        raise ValueError(f"{getattr(task, 'kind', type(task).__name__)} cannot train data-parallel: its loss "
                         "couples the examples of a batch (or it does not say data_parallel = True); train "
                         "it in one process")


def shard_batch(batch: Any, rank: int, world_size: int, size: int) -> Any:
    """Rank ``rank``'s contiguous slice of every tensor or list of length ``size`` in ``batch``."""
    if world_size == 1:
        return batch
    if size % world_size:
        raise ValueError(f"a batch of {size} examples does not split over {world_size} ranks; choose a batch "
                         f"size that is a multiple of {world_size}")
    part = size // world_size
    lo, hi = rank * part, (rank + 1) * part
    if isinstance(batch, Tensor):
        return batch[lo:hi] if batch.dim() and batch.shape[0] == size else batch
    if isinstance(batch, Mapping):
        return {k: shard_batch(v, rank, world_size, size) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        if len(batch) == size and not any(isinstance(v, (Tensor, Mapping)) for v in batch):
            return type(batch)(batch[lo:hi])
        return type(batch)(shard_batch(v, rank, world_size, size) for v in batch)
    return batch


def average_gradients(params: list[Tensor], world_size: int) -> None:
    """Replace each gradient by its mean over the ranks (one all-reduce of the flattened gradients)."""
    if world_size == 1:
        return
    present = [p for p in params if p.grad is not None]
    if not present:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in present])
    torch.distributed.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p in present:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def mean_over_ranks(values: Mapping[str, float], world_size: int) -> dict[str, float]:
    """Each value averaged over the ranks (float64), for the loss and the logged scalars."""
    if world_size == 1:
        return dict(values)
    keys = sorted(values)
    box = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
    torch.distributed.all_reduce(box)
    return {k: float(v) / world_size for k, v in zip(keys, box.tolist())}


def sum_over_ranks(*counts: int) -> list[int]:
    if not dist.active():
        return list(counts)
    box = torch.tensor(counts, dtype=torch.int64)
    torch.distributed.all_reduce(box)
    return [int(v) for v in box.tolist()]
