"""Metric registry: name -> ``"module:attr"``. Add a metric = one file + one line here.

Use as ``metric@backend[:option=value...]``, e.g. ``fd@aisfx``, ``kad@yamnet:bandwidth=eval``,
``kl@yamnet:direction=gen_ref``. Backend-free metrics (``si_sdr``) take no ``@backend``.
"""
from __future__ import annotations

from common.registry import resolve

METRICS: dict[str, str] = {
    "fd": "metrics.frechet:FrechetDistance",
    "fd_inf": "metrics.fd_inf:FrechetDistanceInf",
    "kad": "metrics.kad:KernelAudioDistance",
    "ccds": "metrics.ccds:ConditionalDiversity",
    "clap": "metrics.clap_score:ClapScore",
    "lpaps": "metrics.lpaps:Lpaps",
    "emb_cos": "metrics.embedding_cosine:EmbeddingCosine",
    "kl": "metrics.kl:KLDivergence",
    "is": "metrics.inception_score:InceptionScore",
    "precision": "metrics.prdc:Precision",
    "recall": "metrics.prdc:Recall",
    "density": "metrics.prdc:Density",
    "coverage": "metrics.prdc:Coverage",
    "si_sdr": "metrics.si_sdr:SiSdr",
    "lsd": "metrics.lsd:LogSpectralDistance",
    "mel_distance": "metrics.mel_distance:MultiResolutionMelDistance",
    "adherence": "metrics.adherence:PromptAdherence",
}

#: shorthands expanded when specs are parsed: ``prdc@aisfx`` -> four metrics
ALIASES: dict[str, tuple[str, ...]] = {
    "prdc": ("precision", "recall", "density", "coverage"),
}


def get_metric(name: str):
    """The metric class registered as ``name`` (imported lazily)."""
    return resolve(METRICS, name, "metric")
