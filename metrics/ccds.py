"""CCDS: conditional diversity of generations sharing a prompt (ARC, Novack et al. 2025).

``CCDS(c) = mean_{i<j} (1 − cos(e(x_i), e(x_j)))`` over the K ≥ 2 generations x_1..x_K of
prompt c, e = clip-level embedding (mean of the backend's frames; CLAP in ARC);
``CCDS = mean_c CCDS(c)``. Higher = more diverse. Reference-free: references are ignored.
Cosine as ``torch.nn.functional.cosine_similarity`` (each norm clamped at eps = 1e-8).
ARC's exact K, checkpoint and pair set are unverified (metrics-reference A9): all pairs are used.

Bootstrap unit: prompts (drawn with replacement; a prompt drawn twice counts twice, its
generations are never paired with their own copies).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from metrics.base import Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite
from metrics.frechet import rows_for_level

COS_EPS = 1e-8


def mean_pairwise_cosine_distance(x: np.ndarray) -> float:
    """Mean of 1 − cos over the K(K−1)/2 pairs of rows of x [K, d] (K ≥ 2)."""
    x = as_float64_2d(x, "CCDS embeddings")
    if len(x) < 2:
        raise MetricInputError(f"CCDS needs at least 2 generations per prompt, got {len(x)}")
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), COS_EPS)
    i, j = np.triu_indices(len(x), 1)
    return float(np.mean(1.0 - np.einsum("pd,pd->p", u[i], u[j])))


def group_by_prompt(items) -> dict[str, list]:
    """Items grouped by ``prompt``, in order of first appearance; error on missing prompts."""
    groups: dict[str, list] = {}
    for f in items:
        if f.prompt is None:
            raise MetricInputError(f"CCDS: clip {f.id!r} has no prompt; CCDS groups clips "
                                   "by prompt, so every generated clip needs its prompt text")
        groups.setdefault(f.prompt, []).append(f)
    return groups


class ConditionalDiversity(Metric):
    """CCDS (``ccds@backend``): mean pairwise cosine distance within prompts, mean over prompts."""

    info = MetricInfo(
        "ccds", higher_is_better=True, kind="conditional", needs=("embedding",),
        description="mean over prompts of mean pairwise (1 − cos) of clip embeddings (ARC)",
        domain=(0.0, 2.0),  # 1 − cos
    )
    options: dict = {}

    def reset(self) -> None:
        self.groups: dict[str, list[np.ndarray]] = {}

    def update(self, gen: np.ndarray, prompts) -> None:
        """Add clip-level rows gen [N, d] with their prompt texts [N]."""
        if gen is None or not len(gen):
            return
        gen = as_float64_2d(gen, "CCDS embeddings")
        if len(prompts) != len(gen):
            raise MetricInputError(f"CCDS: {len(gen)} embeddings but {len(prompts)} prompts")
        for prompt, row in zip(prompts, gen):
            self.groups.setdefault(prompt, []).append(row)

    def update_items(self, gen, ref) -> None:
        group_by_prompt(gen)  # rejects clips without a prompt, naming them
        self.update(rows_for_level(gen, "clip"), [f.prompt for f in gen])

    def per_item(self) -> dict[str, float]:
        """CCDS per prompt, keyed by prompt text."""
        small = {p: len(rows) for p, rows in self.groups.items() if len(rows) < 2}
        if small:
            shown = ", ".join(f"{p!r} ({n})" for p, n in list(small.items())[:10])
            raise MetricInputError(
                f"CCDS needs at least 2 generations per prompt; {len(small)} prompts have fewer: "
                f"{shown}; the protocol must generate >= 2 clips per prompt")
        return {p: mean_pairwise_cosine_distance(np.stack(rows)) for p, rows in self.groups.items()}

    def compute(self) -> dict:
        if not self.groups:
            raise MetricInputError("CCDS needs generated clips with prompts, got none")
        per_prompt = self.per_item()
        sizes = [len(rows) for rows in self.groups.values()]
        value = check_finite(float(np.mean(list(per_prompt.values()))), "CCDS")
        return {"value": value, "n": int(sum(sizes)), "n_prompts": len(sizes),
                "min_per_prompt": min(sizes), "max_per_prompt": max(sizes),
                "std_over_prompts": float(np.std(list(per_prompt.values())))}

    def resample(self, gen, ref, rng):
        """Draw prompts with replacement; each draw's clips get a distinct group key."""
        groups = list(group_by_prompt(gen).values())
        draws = rng.integers(0, len(groups), size=len(groups))
        return [dataclasses.replace(f, prompt=f"{t}:{f.prompt}")
                for t, g in enumerate(draws) for f in groups[g]], list(ref)

    def bootstrap(self, gen, ref, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Same draws as ``resample`` + recompute, but each prompt is scored only once."""
        full = type(self)(**self.opts)
        full.update_items(gen, ref)
        values = np.asarray(list(full.per_item().values()))
        return np.asarray([values[rng.integers(0, len(values), size=len(values))].mean()
                           for _ in range(n_boot)], dtype=np.float64)
