"""Inception Score on classifier label distributions (IS_passt / IS_panns).

As audioldm_eval ``metrics/isc.py`` and av-benchmark ``av_bench/metrics/isc.py`` (both from
torch-fidelity): rows in float64, shuffled with ``np.random.RandomState(2020).permutation``,
cut into ``splits`` consecutive chunks ``[i·N//splits, (i+1)·N//splits)``; per chunk
``IS_i = exp(mean_x Σ_c p(c|x) (log p(c|x) − log p̄(c)))`` with p̄ the chunk mean;
report mean and (population, ``np.std``) std over chunks. Reference-free.

Those toolkits take softmax of one logit vector per clip; here each clip's distribution comes
from its per-frame logits through ``aggregate`` (see ``metrics.kl``; with one frame every mode
but ``sigmoid_mean`` equals that softmax).
"""
from __future__ import annotations

import numpy as np

from metrics.base import Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite
from metrics.kl import item_distributions

SEED = 2020


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ_c p (log p − log q) per row, with p = 0 terms counted as 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = p * (np.log(np.where(p > 0, p, 1.0)) - np.log(np.where(p > 0, q, 1.0)))
    return np.where(p > 0, terms, 0.0).sum(axis=1)


def inception_score(probs: np.ndarray, splits: int = 10, seed: int = SEED) -> tuple[float, float]:
    """(mean, std) of per-split IS over class probabilities probs [N, C] (rows sum to 1)."""
    p = as_float64_2d(probs, "IS probabilities")
    n = p.shape[0]
    if splits < 1 or n < splits:
        raise MetricInputError(f"IS needs at least as many clips as splits, got {n} clips "
                               f"and splits={splits}; generate more clips or lower splits")
    p = p[np.random.RandomState(seed).permutation(n)]
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits:(i + 1) * n // splits]
        q = chunk.mean(axis=0, keepdims=True)
        scores.append(np.exp(_xlogy_ratio(chunk, q).mean()))
    return float(np.mean(scores)), float(np.std(scores))


class InceptionScore(Metric):
    """IS (``is@backend``) over generated clips; the reference set is ignored."""

    info = MetricInfo(
        "is", higher_is_better=True, kind="reference-free", needs=("logits",),
        description="Inception Score, 10 shuffled splits, seed 2020 (audioldm_eval / av-benchmark)",
        domain=(1.0, np.inf),  # exp of a mean KL ≥ 0
    )
    options = {"splits": 10, "aggregate": "mean_logits_softmax"}

    def reset(self) -> None:
        self.rows: list[np.ndarray] = []

    def update(self, gen=None, ref=None) -> None:
        """Add clip distributions gen [N, C]; ``ref`` is accepted and ignored."""
        if gen is None or not len(gen):
            return
        rows = as_float64_2d(gen, "IS probabilities")
        if self.rows and rows.shape[1] != self.rows[0].shape[1]:
            raise MetricInputError(f"IS: got {rows.shape[1]} classes after "
                                   f"{self.rows[0].shape[1]}; use one classifier for all clips")
        self.rows.append(rows)

    def update_items(self, gen, ref) -> None:
        self.update(item_distributions(gen, self.opts["aggregate"], "IS generated"))

    def compute(self) -> dict:
        if not self.rows:
            raise MetricInputError("IS needs generated clips with logits, got none")
        probs = np.concatenate(self.rows)
        mean, std = inception_score(probs, int(self.opts["splits"]))
        return {"value": check_finite(mean, "IS"), "std": std, "splits": int(self.opts["splits"]),
                "n": probs.shape[0], "classes": probs.shape[1], "seed": SEED,
                "aggregate": self.opts["aggregate"]}
