"""KL divergence between classifier label distributions of generated and reference clips.

Per pair ``KL(p ‖ q) = Σ_c p_c (log p_c − log(q_c + eps))`` with terms where ``p_c = 0`` counted
as 0 (``xlogy``), eps = 1e-6 on the second argument only: stable-audio-metrics (SAM)
``src/passt_kld.py`` computes ``F.kl_div((ref_p + 1e-6).log(), eval_p, reduction='sum')``.

``direction=gen_ref`` (default) is KL(P_gen ‖ P_ref) as SAM and ARC report it;
``direction=ref_gen`` is KL(P_ref ‖ P_gen) as audioldm_eval ``metrics/kl.py``, av-benchmark and
audiocraft ``metrics/kld.py`` report it ("KL(gt ‖ generated)").

Per-frame logits [frames, classes] become one clip distribution by ``aggregate``:

- ``mean_logits_softmax`` (default): mean logits over frames/windows, then softmax (SAM
  ``collect='mean'``; softmax rather than sigmoid "as in MusicGen").
- ``softmax_mean``: softmax per frame, then the mean of the frame distributions (audiocraft-
  like: audiocraft ``metrics/kld.py`` takes a softmax per 10 s split).
- ``sigmoid_mean``: mean of per-frame sigmoid (multi-label) probabilities, renormalised to sum
  to 1, i.e. the clip's normalised tag-activation profile. This is a proper categorical KL; it
  is NOT audioldm_eval's ``kl_sigmoid``, which feeds unnormalised sigmoid vectors to
  ``F.kl_div`` and ignores the (1 − p) terms (so it is not a Bernoulli KL either).

Pairing: ``pair=id`` compares each generated clip with the reference clip of the same id
(extra reference ids are ignored, as SAM averages over ids present in both sets);
``pair=prompt`` compares it with the mean distribution of all reference clips sharing its
prompt text. The value is the mean over generated clips.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from metrics.base import Features, Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite

AGGREGATES = ("mean_logits_softmax", "softmax_mean", "sigmoid_mean")
DIRECTIONS = ("gen_ref", "ref_gen")
PAIRINGS = ("id", "prompt")


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Row-wise ``Σ p (log p − log(q + eps))``, p = 0 terms are 0; p, q: [N, C] or [C] -> [N]."""
    p, q = as_float64_2d(p, "KL p"), as_float64_2d(q, "KL q")
    if p.shape != q.shape:
        raise MetricInputError(f"KL: distributions have different shapes {p.shape} vs {q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q + eps))
    return np.where(p > 0, terms, 0.0).sum(axis=1)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (float64)."""
    z = np.asarray(x, np.float64)
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def clip_distribution(logits: np.ndarray, aggregate: str = "mean_logits_softmax") -> np.ndarray:
    """One clip's class distribution [C] from per-frame logits [frames, C] (or [C])."""
    z = as_float64_2d(logits, "KL logits")
    if aggregate == "mean_logits_softmax":
        return softmax(z.mean(axis=0))
    if aggregate == "softmax_mean":
        return softmax(z, axis=1).mean(axis=0)
    if aggregate == "sigmoid_mean":
        s = (0.5 * (1.0 + np.tanh(0.5 * z))).mean(axis=0)  # overflow-free sigmoid
        return s / max(s.sum(), np.finfo(np.float64).tiny)
    raise MetricInputError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")


def item_distributions(items: Sequence[Features], aggregate: str, what: str) -> np.ndarray:
    """Stack clip distributions [N, C] of ``items``; error naming clips without logits."""
    missing = [f.id for f in items if f.logits is None]
    if missing:
        raise MetricInputError(f"{what}: clips {missing[:5]} have no logits; use a classifier "
                               "backend that outputs logits (e.g. passt, panns)")
    rows = [clip_distribution(f.logits, aggregate) for f in items]
    if len({len(r) for r in rows}) > 1:
        raise MetricInputError(f"{what}: clips have different class counts "
                               f"{sorted({len(r) for r in rows})}; use one classifier for all")
    return np.stack(rows) if rows else np.zeros((0, 0))


class KLDivergence(Metric):
    """KL between label distributions (``kl@backend``); default SAM/ARC convention."""

    info = MetricInfo(
        "kl", higher_is_better=False, kind="paired", needs=("logits",),
        description="mean KL(P_gen ‖ P_ref) of clip label distributions (SAM passt_kld)",
        # eps on q (SAM) lets KL(p ‖ q + eps) reach −log(1 + C·eps) < 0 for p ≈ q: no bound
        domain=(-np.inf, np.inf),
    )
    #: unpaired="exclude" drops generated clips without a reference partner and lists them in
    #: the result (stable-audio-metrics averages over ids present in both sets); default: error
    options = {"direction": "gen_ref", "aggregate": "mean_logits_softmax", "pair": "id",
               "unpaired": "error"}

    def reset(self) -> None:
        self.gen: list[tuple[str, str | None, np.ndarray]] = []
        self.ref: list[tuple[str, str | None, np.ndarray]] = []

    def update(self, gen=None, ref=None, gen_ids=(), ref_ids=(), gen_prompts=None,
               ref_prompts=None) -> None:
        """Add clip distributions gen [N, C] / ref [M, C] with their ids (and prompts)."""
        for rows, ids, prompts, store in ((gen, gen_ids, gen_prompts, self.gen),
                                          (ref, ref_ids, ref_prompts, self.ref)):
            if rows is None or not len(rows):
                continue
            rows = as_float64_2d(rows, "KL distributions")
            if len(ids) != len(rows):
                raise MetricInputError(f"KL: {len(rows)} distributions but {len(ids)} ids")
            seen = self.gen or self.ref
            if seen and rows.shape[1] != len(seen[0][2]):
                raise MetricInputError(f"KL: got {rows.shape[1]} classes after {len(seen[0][2])}; "
                                       "use the same classifier for all clips")
            prompts = [None] * len(rows) if prompts is None else list(prompts)
            store.extend(zip(ids, prompts, rows))

    def update_items(self, gen, ref) -> None:
        agg = self.opts["aggregate"]
        self.update(item_distributions(gen, agg, "KL generated"),
                    item_distributions(ref, agg, "KL reference"),
                    [f.id for f in gen], [f.id for f in ref],
                    [f.prompt for f in gen], [f.prompt for f in ref])

    def resample(self, gen, ref, rng):
        """Bootstrap generated clips only; the reference they are paired with stays whole."""
        return [gen[i] for i in rng.integers(0, len(gen), size=len(gen))], list(ref)

    def _reference_table(self) -> dict[str, np.ndarray]:
        """Pairing key (id or prompt) -> reference distribution (mean over clips for prompts)."""
        if self.opts["pair"] not in PAIRINGS:
            raise MetricInputError(f"KL pair must be one of {PAIRINGS}, got {self.opts['pair']!r}")
        groups: dict[str, list[np.ndarray]] = {}
        for rid, prompt, row in self.ref:
            key = rid if self.opts["pair"] == "id" else prompt
            groups.setdefault(key, []).append(row)
        dupes = [k for k, rows in groups.items() if len(rows) > 1]
        if self.opts["pair"] == "id" and dupes:
            raise MetricInputError(f"KL: duplicate reference ids {sorted(dupes)[:5]}; "
                                   "reference ids must be unique for pair=id")
        return {k: np.mean(rows, axis=0) for k, rows in groups.items()}

    def _check_paired(self, keys: list, table: dict) -> None:
        if self.opts["pair"] == "prompt" and (None in keys or None in table):
            raise MetricInputError("KL pair=prompt: some clips have no prompt text; "
                                   "give every clip its prompt, or use pair=id")
        missing = sorted({str(k) for k in keys if k not in table})
        if not missing or self.opts["unpaired"] == "exclude":
            return
        if self.opts["pair"] == "id":
            raise MetricInputError(
                f"KL pair=id: {len(missing)} generated ids have no reference clip: {missing[:10]}; "
                "name generated clips after their reference ids, or use pair=prompt")
        raise MetricInputError(f"KL pair=prompt: {len(missing)} prompts have no reference clip: "
                               f"{missing[:10]}; add references for them, use pair=id, "
                               "or unpaired=exclude to score only the paired clips")

    def values(self) -> np.ndarray:
        """Per-generated-clip KL in the configured direction, [N]."""
        if self.opts["direction"] not in DIRECTIONS:
            raise MetricInputError(f"KL direction must be one of {DIRECTIONS}, "
                                   f"got {self.opts['direction']!r}")
        if not self.gen or not self.ref:
            raise MetricInputError("KL needs both generated and reference clips")
        table = self._reference_table()
        keys = [gid if self.opts["pair"] == "id" else prompt for gid, prompt, _ in self.gen]
        self._check_paired(keys, table)
        kept = self._kept(keys, table)
        p = np.stack([self.gen[i][2] for i in kept])
        q = np.stack([table[keys[i]] for i in kept])
        if p.shape != q.shape:
            raise MetricInputError(f"KL: generated clips have {p.shape[1]} classes, "
                                   f"references {q.shape[1]}; use the same classifier for both")
        return kl_divergence(p, q) if self.opts["direction"] == "gen_ref" else kl_divergence(q, p)

    def _kept(self, keys: list, table: dict) -> list[int]:
        kept = [i for i, k in enumerate(keys) if k in table]
        if not kept:
            raise MetricInputError("KL: no generated clip has a reference partner")
        return kept

    def excluded(self) -> list[str]:
        table = self._reference_table()
        keys = [gid if self.opts["pair"] == "id" else prompt for gid, prompt, _ in self.gen]
        return [self.gen[i][0] for i, k in enumerate(keys) if k not in table]

    def compute(self) -> dict:
        v = self.values()
        return {"value": check_finite(float(v.mean()), "KL"), "n_gen": len(v),
                "excluded_unpaired": self.excluded(),
                "n_ref": len(self.ref), "classes": len(self.gen[0][2]), "eps": 1e-6,
                "direction": self.opts["direction"], "aggregate": self.opts["aggregate"],
                "pair": self.opts["pair"]}

    def per_item(self) -> dict[str, float]:
        excluded = set(self.excluded())
        ids = [gid for gid, _, _ in self.gen if gid not in excluded]
        return {gid: float(x) for gid, x in zip(ids, self.values())}
