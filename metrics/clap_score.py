"""CLAP score: cosine similarity between a clip's audio embedding and its prompt's text embedding.

As stable-audio-metrics ``src/clap_score.py``: ``cosine_similarity(audio_emb, text_emb,
eps=1e-8)`` per clip, averaged over clips; higher is better. Both embeddings must come from the
same joint audio-text backend (``Features.text`` is the prompt's text-tower embedding). A clip
with several embedding frames (windowed backends) uses the mean of its frames. References are
ignored. Cosine: each norm clamped at 1e-8 (``torch.nn.functional.cosine_similarity``).
"""
from __future__ import annotations

import numpy as np

from metrics.base import Metric, MetricInfo, MetricInputError, as_float64_2d, check_finite
from metrics.frechet import rows_for_level

COS_EPS = 1e-8
NO_TEXT = ("this backend has no text tower; CLAP score needs a joint audio-text backend such "
           "as clap-laion-audio")


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of a, b [N, d] -> [N] (norms clamped at 1e-8)."""
    a, b = as_float64_2d(a, "CLAP audio embeddings"), as_float64_2d(b, "CLAP text embeddings")
    if a.shape != b.shape:
        raise MetricInputError(f"CLAP score: audio embeddings {a.shape} vs text {b.shape}; "
                               "audio and text must come from the same joint backend")
    na = np.maximum(np.linalg.norm(a, axis=1), COS_EPS)
    nb = np.maximum(np.linalg.norm(b, axis=1), COS_EPS)
    return np.einsum("nd,nd->n", a, b) / (na * nb)


class ClapScore(Metric):
    """Mean audio-text cosine (``clap@backend``) over generated clips."""

    info = MetricInfo(
        "clap", higher_is_better=True, kind="text", needs=("embedding", "text"),
        description="mean cosine(audio embedding, prompt text embedding) (SAM clap_score)",
        domain=(-1.0, 1.0),
    )
    options: dict = {}

    def reset(self) -> None:
        self.ids: list[str] = []
        self.scores: list[float] = []

    def update(self, gen: np.ndarray, text: np.ndarray, ids=None) -> None:
        """Add clip audio embeddings gen [N, d] and their prompts' text embeddings [N, d]."""
        if gen is None or not len(gen):
            return
        scores = cosine_rows(gen, text)
        self.ids.extend(list(ids) if ids is not None else
                        [f"#{len(self.ids) + i}" for i in range(len(scores))])
        self.scores.extend(scores.tolist())

    def update_items(self, gen, ref) -> None:
        missing = [f.id for f in gen if f.text is None]
        if missing:
            raise MetricInputError(f"CLAP score: clips {missing[:5]} have no text embedding; "
                                   + NO_TEXT)
        if gen:
            texts = np.stack([np.asarray(f.text, np.float64).reshape(-1) for f in gen])
            self.update(rows_for_level(gen, "clip"), texts, [f.id for f in gen])

    def compute(self) -> dict:
        if not self.scores:
            raise MetricInputError("CLAP score needs generated clips, got none")
        value = check_finite(float(np.mean(self.scores)), "CLAP score")
        return {"value": value, "n": len(self.scores), "std": float(np.std(self.scores))}

    def per_item(self) -> dict[str, float]:
        return dict(zip(self.ids, self.scores))
