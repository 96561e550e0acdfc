"""Prompt adherence on the embedded procedural sound-effect set (``adherence``), higher is better.

Per clip: the fraction of the attributes its prompt states (event, pitch, loudness, duration,
rate, onset, and direction for chirps) that the signal-processing analysis of
``common.sfx.analysis`` reads back from the audio; the metric is the mean over clips. Clips need
their prompt's attributes as metadata (the columns of a procedural manifest, which
``common.sfx.dataset.write_manifest`` and the runner write). Chance level (a clip of an
independent prompt scored by a perfect analysis) is reported with the value.

Reference-free (no backend, no reference set); bootstrap unit: clips.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from common.sfx.analysis import adherence as score_clip
from common.sfx.analysis import chance_level
from common.sfx.attributes import SfxAttributes
from metrics.base import Features, Metric, MetricInfo, MetricInputError


def clip_attributes(item: Features) -> SfxAttributes:
    """The procedural attributes stored in a clip's metadata; a clear error when absent."""
    try:
        return SfxAttributes.from_dict(item.meta)
    except (ValueError, TypeError) as exc:
        raise MetricInputError(
            f"adherence: clip {item.id!r} has no procedural attributes ({exc}); adherence scores "
            "clips of the embedded sfx prompts, whose manifest has event, pitch, loudness, "
            "duration, rate, onset and direction columns") from None


def mono(audio: np.ndarray) -> np.ndarray:
    """[channels, n] or [n] -> float64 [n] (channel mean)."""
    x = np.asarray(audio, dtype=np.float64)
    return x.mean(axis=0) if x.ndim == 2 else x


class PromptAdherence(Metric):
    """Mean procedural prompt adherence of the generated clips (``adherence``)."""

    info = MetricInfo(
        "adherence", higher_is_better=True, kind="reference-free", needs=("audio",),
        description="fraction of the prompt's procedural attributes read back from the clip",
        needs_backend=False, domain=(0.0, 1.0),
    )
    options: dict = {}

    def reset(self) -> None:
        self.ids: list[str] = []
        self.scores: list[float] = []  # a list, not a map: a bootstrap draw repeats clips

    def update_items(self, gen: Sequence[Features], ref: Sequence[Features]) -> None:
        for item in gen:
            if item.audio is None or item.sample_rate is None:
                raise MetricInputError(f"adherence: clip {item.id!r} has no audio")
            self.ids.append(item.id)
            self.scores.append(score_clip(mono(item.audio), item.sample_rate, clip_attributes(item)).score)

    def compute(self) -> dict:
        if not self.scores:
            raise MetricInputError("adherence: no clips")
        values = np.asarray(self.scores, dtype=np.float64)
        return {"value": float(values.mean()), "n": len(values), "chance_level": chance_level()}

    def per_item(self) -> dict[str, float]:
        return dict(zip(self.ids, self.scores))

    def bootstrap(self, gen, ref, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Clips drawn with replacement (the draws of ``Metric.resample``), each scored once."""
        full = type(self)(**self.opts)
        full.update_items(gen, ref)
        scores = np.asarray(full.scores, dtype=np.float64)
        return np.asarray([scores[rng.integers(0, len(scores), size=len(scores))].mean()
                           for _ in range(n_boot)], dtype=np.float64)
