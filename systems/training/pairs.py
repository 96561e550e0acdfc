"""A content-addressed cache of teacher ODE couplings (ε, x0' = ODE(σ_max·ε, prompt)).

Rectified diffusion (AudioTurbo) retrains on pairs drawn once from the teacher's deterministic
sampler; they are a pure function of (teacher checkpoint, sampler, steps, guidance, grid,
duration, prompt, seed), so they are cached by exactly that. Items are stored in chunks of
``chunk`` consecutive items, one safetensors file each (``pairs-<hash>.safetensors`` holding
``eps`` and ``x0``), whose metadata repeats the full spec and the chunk's (prompt, seed) list;
the file name is the hash of both.

Reading a chunk re-checks its metadata against the request: a truncated or corrupt file, or one
made by another teacher or for other items (copied, or a hash collision), is never used — a
warning names the file and the reason, and the chunk is recomputed and written over it.

The teacher evaluations a chunk cost are charged every time it is used (``Pairs.teacher_nfe``):
a reused pair is as expensive for the budget as a fresh one, so cache state never changes what
a system is charged.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from common.paths import cache_root
from systems.training.checkpoint import CheckpointError, config_hash, load_checkpoint, save_checkpoint

KIND, FORMAT_VERSION = "teacher-pairs", 1
#: ``make(prompts, seeds) -> (eps [n, ...], x0 [n, ...], NFE per sample)``
MakePairs = Callable[[Sequence[str], Sequence[int]], "tuple[torch.Tensor, torch.Tensor, int]"]


@dataclass
class Pairs:
    """Stacked couplings of every requested item, in request order."""

    eps: torch.Tensor
    x0: torch.Tensor
    teacher_nfe: int      # sample-NFE the pairs cost (NFE per sample × items), reused or not
    computed: int         # items computed in this call (the rest came from the cache)

    def __len__(self) -> int:
        return int(self.eps.shape[0])


class PairCache:
    """Pair chunks under ``root`` (default ``$FASTAUDIO_CACHE/pairs``)."""

    def __init__(self, root: str | os.PathLike | None = None, chunk: int = 256) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1 item, got {chunk}")
        self.root = Path(root) if root is not None else cache_root() / "pairs"
        self.chunk = chunk

    def get(self, spec: Mapping[str, Any], items: Sequence[tuple[str, int]], make: MakePairs,
            progress: bool = False) -> Pairs:
        """Pairs of ``items`` ((prompt, seed) each) under ``spec``, computing missing chunks."""
        _check_spec(spec)
        if not items:
            raise ValueError("no items: ask for at least one (prompt, seed) pair")
        parts, nfe, computed = [], 0, 0
        starts = range(0, len(items), self.chunk)
        for start in tqdm(starts, desc="teacher pairs", disable=not progress, leave=False):
            chunk = [(str(p), int(s)) for p, s in items[start: start + self.chunk]]
            eps, x0, per_sample, fresh = self._chunk(spec, chunk, make)
            parts.append((eps, x0))
            nfe += per_sample * len(chunk)
            computed += len(chunk) if fresh else 0
        return Pairs(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), nfe, computed)

    def path(self, spec: Mapping[str, Any], chunk: Sequence[tuple[str, int]]) -> Path:
        return self.root / f"pairs-{config_hash(_config(spec, chunk))}.safetensors"

    def _chunk(self, spec, chunk, make: MakePairs):
        path, config = self.path(spec, chunk), _config(spec, chunk)
        if path.exists():
            try:
                stored = load_checkpoint(path, kind=KIND, config=config)
                return stored.tensors["eps"], stored.tensors["x0"], int(stored.meta["nfe_per_sample"]), False
            except (CheckpointError, KeyError) as error:
                warnings.warn(f"pair cache entry {path} is unusable and is recomputed: {error}", stacklevel=4)
        eps, x0, per_sample = make([p for p, _ in chunk], [s for _, s in chunk])
        save_checkpoint(path, {"eps": eps, "x0": x0}, kind=KIND, config=config,
                        meta={"nfe_per_sample": int(per_sample)})
        return eps.cpu(), x0.cpu(), int(per_sample), True


def _config(spec: Mapping[str, Any], chunk: Sequence[tuple[str, int]]) -> dict[str, Any]:
    return {"spec": dict(spec), "items": [list(item) for item in chunk], "format": FORMAT_VERSION}


def _check_spec(spec: Mapping[str, Any]) -> None:
    """The spec must name the teacher checkpoint; everything else is whatever changes the pairs."""
    if not isinstance(spec.get("teacher"), str) or not spec["teacher"]:
        raise ValueError("a pair spec must name the teacher checkpoint (spec['teacher'] = its store "
                         f"hash), got {spec.get('teacher')!r}")
