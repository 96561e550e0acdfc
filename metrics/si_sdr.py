"""SI-SDR (scale-invariant signal-to-distortion ratio, Le Roux et al. 2019) in dB, higher is better.

``α = (⟨ŝ, s⟩ + ε) / (‖s‖² + ε)``, ``SI-SDR = 10 log10((‖αs‖² + ε) / (‖αs − ŝ‖² + ε))`` with
ε = finfo(float64).eps, as torchmetrics ``functional/audio/sdr.py::
scale_invariant_signal_distortion_ratio`` (``zero_mean=False`` by default; its docstring
example gives 18.4030 dB). The published sign is kept: audiotools/Codec-SUPERB ``SISDRLoss``,
audiocraft and VERSA internals report −SI-SDR (a loss) and audiotools uses ``zero_mean=True``.

Multichannel clips are scored per channel and the channel scores averaged (audiotools
flattens channels into one signal instead). Clips are paired by id; this module also holds the
shared paired-by-id accumulator (``PairedMetric``) and audio alignment used by ``metrics.lsd``,
``metrics.mel_distance`` and ``metrics.lpaps``.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Sequence

import numpy as np

from metrics.base import (
    Features,
    Metric,
    MetricInfo,
    MetricInputError,
    check_finite,
    paired_resample,
)

EPS = float(np.finfo(np.float64).eps)


def si_sdr(estimate: np.ndarray, target: np.ndarray, zero_mean: bool = False) -> np.ndarray:
    """SI-SDR in dB over the last axis: estimate, target [..., samples] -> [...]."""
    est, tgt = np.asarray(estimate, np.float64), np.asarray(target, np.float64)
    if est.shape != tgt.shape:
        raise MetricInputError(f"SI-SDR: shapes differ {est.shape} vs {tgt.shape}")
    if zero_mean:
        est, tgt = est - est.mean(-1, keepdims=True), tgt - tgt.mean(-1, keepdims=True)
    alpha = (np.sum(est * tgt, -1, keepdims=True) + EPS) / (np.sum(tgt**2, -1, keepdims=True) + EPS)
    scaled = alpha * tgt
    ratio = (np.sum(scaled**2, -1) + EPS) / (np.sum((scaled - est) ** 2, -1) + EPS)
    return 10.0 * np.log10(ratio)


def as_audio(x: np.ndarray, what: str) -> np.ndarray:
    """float64 [channels, samples] (1-d input is mono); rejects NaN/Inf and empty clips."""
    a = np.asarray(x, np.float64)
    a = a[None, :] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] == 0:
        raise MetricInputError(f"{what}: expected audio [channels, samples], got shape {a.shape}")
    if not np.isfinite(a).all():
        raise MetricInputError(f"{what}: audio contains NaN or Inf")
    return a


def paired_audio(gen, ref, sample_rate: int | None, max_mismatch_s: float, what: str):
    """Align a (gen, ref) audio pair: same channel count, truncated to the common length.

    Lengths may differ by at most ``max_mismatch_s`` seconds (codec padding); more is an error.
    """
    g, r = as_audio(gen, f"{what} generated"), as_audio(ref, f"{what} reference")
    if g.shape[0] != r.shape[0]:
        raise MetricInputError(f"{what}: generated has {g.shape[0]} channels, reference "
                               f"{r.shape[0]}; convert both to the same channel layout")
    diff = abs(g.shape[1] - r.shape[1])
    if diff and (sample_rate is None or diff > max_mismatch_s * sample_rate):
        raise MetricInputError(
            f"{what}: lengths differ by {diff} samples (sample_rate={sample_rate}), more than "
            f"max_length_mismatch_s={max_mismatch_s}; trim or pad the clips to the same length")
    n = min(g.shape[1], r.shape[1])
    return g[:, :n], r[:, :n]


class PairedMetric(Metric):
    """Accumulator for per-pair scores of clips matched by id; value = mean over pairs.

    Items are matched as a multiset across batches (a clip waits until its partner arrives), so
    batch order does not matter and bootstrap duplicates pair up one to one.
    """

    field: ClassVar[str] = "audio"

    @abstractmethod
    def pair_score(self, gen, ref, sample_rate: int | None) -> float:
        """Score one pair of per-clip inputs (``Features.<field>`` of gen and ref)."""

    def reset(self) -> None:
        self.ids: list[str] = []
        self.scores: list[float] = []
        self.pending_gen: dict[str, list[Features]] = {}
        self.pending_ref: dict[str, list[Features]] = {}

    def update(self, gen: Sequence, ref: Sequence, ids=None, sample_rate: int | None = None):
        """Score pairs gen[i] vs ref[i] (per-clip inputs of this metric), in order."""
        if len(gen) != len(ref):
            raise MetricInputError(f"{self.info.name}: {len(gen)} generated vs {len(ref)} refs")
        ids = list(ids) if ids is not None else [f"#{len(self.ids) + i}" for i in range(len(gen))]
        for item_id, g, r in zip(ids, gen, ref):
            self.ids.append(item_id)
            self.scores.append(float(self.pair_score(g, r, sample_rate)))

    def update_items(self, gen, ref) -> None:
        for g in gen:
            self._match(g, is_gen=True)
        for r in ref:
            self._match(r, is_gen=False)

    def _match(self, item: Features, is_gen: bool) -> None:
        own, other = (self.pending_gen, self.pending_ref) if is_gen else (self.pending_ref,
                                                                          self.pending_gen)
        queue = other.get(item.id)
        if not queue:
            own.setdefault(item.id, []).append(item)
            return
        partner = queue.pop(0)
        if not queue:
            del other[item.id]
        g, r = (item, partner) if is_gen else (partner, item)
        self._score_items(g, r)

    def _score_items(self, g: Features, r: Features) -> None:
        name = self.info.name
        if self.field == "audio" and g.sample_rate != r.sample_rate:
            raise MetricInputError(f"{name}: clip {g.id!r} is at {g.sample_rate} Hz, its reference "
                                   f"at {r.sample_rate} Hz; resample to one rate first")
        gv, rv = getattr(g, self.field), getattr(r, self.field)
        if gv is None or rv is None:
            raise MetricInputError(f"{name}: clip {g.id!r} has no {self.field}; {name} needs "
                                   f"{self.field} for both the generated and the reference clip")
        self.update([gv], [rv], [g.id], g.sample_rate)

    def _unmatched_message(self, gen_ids, ref_ids) -> str:
        return (f"{self.info.name} pairs clips by id; generated ids without a reference: "
                f"{sorted(gen_ids)[:10]}, reference ids without a generated clip: "
                f"{sorted(ref_ids)[:10]}; name each output after its reference clip")

    def compute(self) -> dict:
        if self.pending_gen or self.pending_ref:
            raise MetricInputError(self._unmatched_message(self.pending_gen, self.pending_ref))
        if not self.scores:
            raise MetricInputError(f"{self.info.name} needs at least one (generated, reference) "
                                   "pair with the same id")
        value = check_finite(float(np.mean(self.scores)), self.info.name)
        return {"value": value, "n": len(self.scores), "std": float(np.std(self.scores)),
                "min": float(np.min(self.scores)), "max": float(np.max(self.scores))}

    def per_item(self) -> dict[str, float]:
        return dict(zip(self.ids, self.scores))

    def align(self, gen: Sequence[Features], ref: Sequence[Features]) -> list[Features]:
        """Reference items reordered to follow ``gen``'s ids; error on unmatched ids."""
        by_id = {r.id: r for r in ref}
        gen_ids = {g.id for g in gen}
        lone_gen, lone_ref = gen_ids - set(by_id), set(by_id) - gen_ids
        if lone_gen or lone_ref:
            raise MetricInputError(self._unmatched_message(lone_gen, lone_ref))
        return [by_id[g.id] for g in gen]

    def resample(self, gen, ref, rng):
        """Bootstrap unit: (gen, ref) pairs drawn jointly (``paired_resample``)."""
        return paired_resample(gen, self.align(gen, ref), rng)

    def bootstrap(self, gen, ref, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Same draws as ``resample`` + recompute, but each pair is scored only once."""
        full = type(self)(**self.opts)
        full.update_items(gen, self.align(gen, ref))  # scores come out in gen order
        scores = full.scores
        return np.asarray([np.mean(paired_resample(scores, scores, rng)[0])
                           for _ in range(n_boot)], dtype=np.float64)


class SiSdr(PairedMetric):
    """SI-SDR of generated/decoded audio against the reference with the same id (``si_sdr``)."""

    info = MetricInfo(
        "si_sdr", higher_is_better=True, kind="paired", needs=("audio",), unit="dB",
        description="SI-SDR per channel, channel mean (torchmetrics convention, eps=float64 eps)",
        needs_backend=False, domain=(-np.inf, np.inf),
    )
    options = {"zero_mean": False, "max_length_mismatch_s": 0.1}

    def pair_score(self, gen, ref, sample_rate: int | None) -> float:
        g, r = paired_audio(gen, ref, sample_rate, float(self.opts["max_length_mismatch_s"]),
                            "SI-SDR")
        return float(si_sdr(g, r, bool(self.opts["zero_mean"])).mean())
