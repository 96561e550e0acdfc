"""Metric specs: ``metric[@backend][:option=value...]``, e.g. ``kad@aisfx:bandwidth=eval``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metrics import ALIASES, METRICS, get_metric
from metrics.base import MetricInputError
from metrics.embeddings import get_backend


@dataclass(frozen=True)
class MetricSpec:
    text: str  # the name results are keyed by
    metric: str
    backend: str | None
    options: dict[str, Any] = field(default_factory=dict)


def _value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            continue
    return raw


def parse_spec(text: str) -> list[MetricSpec]:
    """One spec string -> specs (an alias such as ``prdc`` expands to several)."""
    head, *opts = text.strip().split(":")
    name, _, backend = head.partition("@")
    options = {}
    for opt in opts:
        key, sep, raw = opt.partition("=")
        if not sep:
            raise MetricInputError(f"{text!r}: option {opt!r} must look like key=value")
        options[key] = _value(raw)
    suffix = text.strip()[len(name):]
    names = ALIASES.get(name, (name,))
    return [MetricSpec(n + suffix, n, backend or None, options) for n in names]


def validate(spec: MetricSpec) -> None:
    """Raise MetricInputError if the metric/backend/options do not fit together."""
    if spec.metric not in METRICS and spec.metric not in ALIASES:
        get_metric(spec.metric)  # raises with suggestions
    cls = get_metric(spec.metric)
    cls(**spec.options)  # validates option names
    if not cls.info.needs_backend:
        if spec.backend:
            raise MetricInputError(f"{spec.text}: {spec.metric} works on audio; drop '@{spec.backend}'")
        return
    if not spec.backend:
        raise MetricInputError(f"{spec.text}: {spec.metric} needs a backend, e.g. {spec.metric}@aisfx")
    provides = get_backend(spec.backend).provides | {"embedding"}
    missing = set(cls.info.needs) - provides - {"audio"}
    if missing:
        raise MetricInputError(
            f"{spec.text}: {spec.metric} needs {sorted(missing)} which {spec.backend} does not "
            f"provide (it gives {sorted(provides)}); e.g. KL/IS need a classifier such as yamnet")


def parse_specs(texts) -> list[MetricSpec]:
    specs = [s for t in texts for s in parse_spec(t)]
    for spec in specs:
        validate(spec)
    return specs
