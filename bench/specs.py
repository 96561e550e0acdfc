"""Metric specs: ``metric[@backend][:option=value...]``, e.g. ``kad@aisfx:bandwidth=eval``."""
from __future__ import annotations

import math
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
    options: dict[str, Any] = {}
    for opt in opts:
        key, sep, raw = opt.partition("=")
        if not sep or not key.strip():
            raise MetricInputError(f"{text!r}: option {opt!r} must look like key=value")
        if key in options:
            raise MetricInputError(f"{text!r}: option {key!r} is given twice; keep one {key}=...")
        options[key] = _value(raw)
        if isinstance(options[key], float) and not math.isfinite(options[key]):
            raise MetricInputError(f"{text!r}: option {key}={raw} is not a finite number")
    suffix = text.strip()[len(name):]
    names = ALIASES.get(name, (name,))
    return [MetricSpec(n + suffix, n, backend or None, options) for n in names]


def check_option_types(spec: MetricSpec, defaults: dict[str, Any]) -> None:
    """Each option value fits its default's type, so a typo fails now, not after extraction.

    Integers are counts (>= 1 when the default is >= 1, e.g. k, splits, block) or seeds (>= 0);
    an integral float such as ``1e3`` is taken as an integer. An option whose default is None
    (e.g. KAD's sigma) takes None or a number. Which words a string option takes is the metric's
    business (it reports a wrong one as ``status: error``).
    """
    for key, value in spec.options.items():
        default = defaults[key]
        if type(default) is int and isinstance(value, float) and value.is_integer():
            value = spec.options[key] = int(value)
        expected = _expected(default, value)
        if expected:
            raise MetricInputError(f"{spec.text}: option {key}={value!r} must be {expected} "
                                   f"(default {default!r})")


def _expected(default: Any, value: Any) -> str | None:
    """What an option value must be, given the option's default; None when it fits."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        low = 1 if default >= 1 else 0
        return None if number and isinstance(value, int) and value >= low else f"an integer >= {low}"
    if isinstance(default, float):
        return None if number and (value >= 0 or default < 0) else "a number >= 0"
    if default is None:
        return None if value is None or number else "a number or none"
    return None if isinstance(value, str) else f"a word such as {default!r}"


def validate(spec: MetricSpec) -> None:
    """Raise MetricInputError if the metric/backend/options do not fit together."""
    if spec.metric not in METRICS and spec.metric not in ALIASES:
        get_metric(spec.metric)  # raises with suggestions
    cls = get_metric(spec.metric)
    cls(**spec.options)  # validates option names
    check_option_types(spec, cls.options)
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
    """Parse and validate every spec; an empty list is an error (None means "the defaults")."""
    specs = [s for t in texts for s in parse_spec(t)]
    if not specs:
        raise MetricInputError("the metric list is empty; name at least one metric, e.g. "
                               "--metrics fd@aisfx,kad@aisfx (or leave --metrics out for the defaults)")
    for spec in specs:
        validate(spec)
    return specs
