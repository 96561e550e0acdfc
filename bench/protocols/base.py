"""Typed, versioned benchmark protocols: what to generate, how to score it, on which machine profile.

A protocol fixes everything a leaderboard number depends on: prompts and reference audio, the
number of generations per prompt (CCDS needs at least 2), seeds, clip duration, which systems run
at which samplers, step counts and guidance, the metrics (``metric@backend``) and the speed
profile. Its canonical JSON hashes to ``hash()``; ``versions.json`` pins (version, hash) so a
changed definition without a version bump fails the test suite.

``kind`` says what runs it: ``"text-to-audio"`` (the default, left out of the definition so older
protocols keep their hashes; ``bench.runner``) or ``"codec"`` (``bench.codec_runner``: the
``reference`` clips are the test clips, each entry a codec at an operating point).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

AE_REF = "[ae-ref]"  # suffix of a metric scored against the autoencoded reference set
DIVERSITY = "[div]"  # suffix of a metric scored on the diversity set (DiversitySet)
TEXT_TO_AUDIO, CODEC = "text-to-audio", "codec"
KINDS = (TEXT_TO_AUDIO, CODEC)


@dataclass(frozen=True)
class DiversitySet:
    """Many generations per prompt on a prompt subset, scored apart (metric names end in ``[div]``).

    Conditional diversity (CCDS) needs many clips of one prompt: ARC (Novack et al. 2025) draws
    24 per prompt on 203 AudioCaps prompts. A protocol with this option also generates, for every
    row, the first ``prompts`` prompts of its prompt list × ``generations`` seeds (seeds
    ``seed … seed + generations − 1``, so the main set's clips of those prompts are cache hits) and
    scores ``metrics`` on that set alone; the bootstrap draws its prompts, with the same indices in
    every row.
    """

    prompts: int
    generations: int
    metrics: tuple[str, ...] = ("ccds@aisfx",)

    def __post_init__(self) -> None:
        if self.prompts < 2 or self.generations < 2:
            raise ValueError(f"a diversity set needs >= 2 prompts and >= 2 generations per prompt "
                             f"(CCDS pairs clips of one prompt), got {self.prompts} × {self.generations}")
        if not self.metrics:
            raise ValueError("a diversity set needs at least one metric (e.g. 'ccds@aisfx')")


@dataclass(frozen=True)
class SystemEntry:
    """One system of a protocol and the operating points it is run at.

    An accelerator's entry also names its training ``budget`` (a ``systems.training.Budget``:
    updates, batch, wall cap, teacher-NFE cap; see ``bench.protocols.budgets``) and its training
    settings ``train`` (overriding the system's ``train_defaults`` by name). ``guidance`` set here
    makes the rows' ids carry it (``system/sampler/steps/cfgW``), so a CFG sweep has distinct rows.
    """

    system: str
    samplers: tuple[str, ...]
    steps: tuple[int, ...]
    guidance: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    budget: Any = None
    train: dict[str, Any] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        """JSON-able; the training fields appear only when set (older protocols keep their hash)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("budget", "train")}
        if self.budget is not None:
            out["budget"] = self.budget.to_dict()
        if self.train:
            out["train"] = dict(self.train)
        return out


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    description: str
    prompts: dict[str, Any]  # {"source": "sfx", "split", "n", "seed"} or {"source": "manifest", ...}
    reference: dict[str, Any]
    systems: tuple[SystemEntry, ...]
    metrics: tuple[str, ...]
    generations_per_prompt: int = 2
    seed: int = 0
    duration_s: float | None = None  # None: the preset's clip length
    preset: str = "tiny"
    speed_profile: str = "cpu"
    speed_batch: int = 8
    bootstrap: int = 100
    # What the report leads with: metrics of the headline table (those that resolve), and the
    # quality axis of the quality-vs-speed plot.
    headline: tuple[str, ...] = ()
    pareto_metric: str | None = None
    # Metrics also scored against the references passed through the shared autoencoder and
    # decoder (reported as ``METRIC[ae-ref]``): a clearly labelled second reference set on which
    # the decoder's own artefacts no longer dominate the distance.
    ae_ref_metrics: tuple[str, ...] = ()
    # Floor (real clips) and ceiling (real clips through the autoencoder) rows; see bench.anchors.
    anchors: bool = True
    # Whose fewest vs most steps decide whether a metric resolves (bench.resolution).
    resolution: dict[str, str] = field(default_factory=lambda: {"system": "teacher", "sampler": "euler"})
    # Many generations per prompt on a prompt subset (CCDS as ARC measures it); see DiversitySet.
    diversity: DiversitySet | None = None
    # What the protocol runs: "text-to-audio" (bench.runner: prompts -> clips) or "codec"
    # (bench.codec_runner: the reference clips -> encode -> bytes -> decode, scored vs the originals).
    kind: str = TEXT_TO_AUDIO

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.generations_per_prompt < 1:
            raise ValueError(f"{self.name}: generations_per_prompt must be >= 1")
        if not self.systems or not self.metrics:
            raise ValueError(f"{self.name}: a protocol needs at least one system and one metric")
        n_prompts = self.prompts.get("n")
        if self.diversity and n_prompts is not None and self.diversity.prompts > n_prompts:
            raise ValueError(f"{self.name}: the diversity set takes the first {self.diversity.prompts} "
                             f"prompts, but the protocol has {n_prompts}; lower DiversitySet.prompts")
        known = set(self.metric_names())
        for name in (*self.headline, *((self.pareto_metric,) if self.pareto_metric else ())):
            if name not in known:
                raise ValueError(f"{self.name}: headline/pareto metric {name!r} is not among the "
                                 f"protocol's metrics {sorted(known)}")

    def metric_names(self) -> list[str]:
        """Every metric name a row carries: the specs (aliases expanded) plus the ``[ae-ref]`` ones."""
        from bench.specs import parse_spec

        names = [s.text for m in self.metrics for s in parse_spec(m)]
        names += [f"{s.text}{AE_REF}" for m in self.ae_ref_metrics for s in parse_spec(m)]
        extra = self.diversity.metrics if self.diversity else ()
        return names + [f"{s.text}{DIVERSITY}" for m in extra for s in parse_spec(m)]

    def definition(self) -> dict[str, Any]:
        """The canonical, JSON-able definition (what the hash covers)."""
        out = asdict(self)
        out["systems"] = [entry.definition() for entry in self.systems]
        if self.diversity is None:
            del out["diversity"]   # protocols without the option keep their hash
        if self.kind == TEXT_TO_AUDIO:
            del out["kind"]   # text-to-audio protocols written before the field keep their hash
        return out

    def hash(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
