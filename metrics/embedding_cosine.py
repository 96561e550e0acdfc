"""Embedding cosine: how close a decoded clip stays to its original in a backend's embedding space.

``emb_cos@backend`` (e.g. ``emb_cos@aisfx``), higher is better, in [-1, 1]: per pair, the cosine
similarity between the embedding of the original (reference) clip and that of the decoded
(generated) clip with the same id; the value is the mean over pairs, with one per-item value per
pair, so bootstrap intervals resample pairs as the other paired metrics do (``PairedMetric``).

Embeddings arrive as [frames, d] per clip. ``level=clip`` (default): the frames are averaged
first (the clip embedding FD's ``level=clip`` uses), then one cosine, so the score does not
hinge on frame alignment. ``level=frame``: the mean over frames of frame-by-frame cosines (both
clips must give as many frames, i.e. be equally long); stricter about where in time the codec
loses content. Cosine: each norm clamped at 1e-8, as ``torch.nn.functional.cosine_similarity``
(and ``metrics.clap_score``), so an all-zero embedding scores 0 rather than NaN. Identical
embeddings score 1, orthogonal 0, opposite −1; computed in float64.
"""
from __future__ import annotations

import numpy as np

from metrics.base import MetricInfo, MetricInputError, as_float64_2d
from metrics.si_sdr import PairedMetric

COS_EPS = 1e-8
LEVELS = ("clip", "frame")


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of a, b [N, d] -> [N] in float64 (norms clamped at 1e-8)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na = np.maximum(np.linalg.norm(a, axis=-1), COS_EPS)
    nb = np.maximum(np.linalg.norm(b, axis=-1), COS_EPS)
    return np.clip(np.einsum("...d,...d->...", a, b) / (na * nb), -1.0, 1.0)  # clip: round-off only


def embedding_cosine(decoded: np.ndarray, original: np.ndarray, level: str = "clip") -> float:
    """Cosine between two clips' embeddings [frames, d] (or [d]) at ``level`` ('clip' / 'frame')."""
    g = as_float64_2d(decoded, "emb_cos decoded-clip embedding")
    r = as_float64_2d(original, "emb_cos original-clip embedding")
    if g.shape[1] != r.shape[1]:
        raise MetricInputError(f"emb_cos: embedding sizes differ ({g.shape[1]} vs {r.shape[1]}); both "
                               "clips must be embedded by the same backend")
    if level == "clip":
        return float(cosine_similarity(g.mean(axis=0), r.mean(axis=0)))
    if level != "frame":
        raise MetricInputError(f"emb_cos: level must be one of {LEVELS}, got {level!r}")
    if g.shape[0] != r.shape[0]:
        raise MetricInputError(f"emb_cos level=frame: {g.shape[0]} vs {r.shape[0]} frames; the clips "
                               "differ in length: trim them to one length or use level=clip")
    return float(cosine_similarity(g, r).mean())


class EmbeddingCosine(PairedMetric):
    """Mean cosine between each decoded clip's embedding and its original's (``emb_cos@backend``)."""

    field = "embedding"
    info = MetricInfo(
        "emb_cos", higher_is_better=True, kind="paired", needs=("embedding",),
        description="cosine(embedding of decoded clip, embedding of original), mean over pairs",
        domain=(-1.0, 1.0),
    )
    options = {"level": "clip"}

    def pair_score(self, gen, ref, sample_rate: int | None) -> float:
        return embedding_cosine(gen, ref, str(self.opts["level"]))
