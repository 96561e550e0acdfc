"""The entries of a codec protocol: validation before any work, row ids, decode seeds, training.

A codec entry is ``SystemEntry(codec, samplers=(), steps=(), config={...})``: ``config`` is the
operating point (e.g. ``{"bitrate_kbps": 6}``), and the codec's ``row_options`` name the config
keys that make it another row (``opus/bitrate_kbps6``); ``steps`` lists decode step counts for
a codec whose decoder takes steps (one row each, ``…/steps4``); empty = ``decode(steps=None)``.
A trainable codec (one with ``fit``, e.g. S-PRESSO) names a ``budget`` and trains inside the
run like an accelerator (:func:`train_codec`); every other codec must not name one.

A codec whose class says ``stochastic = True`` decodes every clip with :data:`DECODE_SEEDS`
seeds; the row's metrics are those of the first seed and ``seed_spread`` gives each metric over
all of them. A codec whose ``config()["payload"]`` starts with "nominal" is an anchor (the MUSHRA
low-pass anchor): its rate is a label, not a payload, and reports mark it as such.
"""
from __future__ import annotations

import time

from bench.entries import RunError, row_variant
from bench.protocols.base import CODEC, Protocol, SystemEntry
from bench.protocols.budgets import RULES

DECODE_SEEDS = 3  # decodes per clip of a stochastic codec (the "spread over 3 decode seeds")
NOMINAL = "nominal"


def codec_row_name(entry: SystemEntry, steps: int | None) -> str:
    """``codec[/variant][/stepsN]``, e.g. ``opus/bitrate_kbps6``, ``ae-codec``, ``spresso/…/steps4``."""
    name = entry.system
    variant = row_variant(entry)
    name = f"{name}/{variant}" if variant else name
    return name if steps is None else f"{name}/steps{steps}"


def decode_steps(entry: SystemEntry) -> tuple[int | None, ...]:
    """The entry's decode step counts, or ``(None,)`` for a decoder without steps."""
    return tuple(entry.steps) or (None,)


def is_stochastic(codec) -> bool:
    """Whether the codec's decoder draws noise (class attribute ``stochastic = True``)."""
    return bool(getattr(codec, "stochastic", False))


def decode_seeds(codec, protocol: Protocol) -> tuple[int, ...]:
    """``protocol.seed + k`` for k < :data:`DECODE_SEEDS` (stochastic), else ``(protocol.seed,)``."""
    count = DECODE_SEEDS if is_stochastic(codec) else 1
    return tuple(protocol.seed + k for k in range(count))


def payload_label(codec) -> str:
    """What the codec says its payload is (``config()["payload"]``), "" when it says nothing."""
    return str(codec.config().get("payload", ""))


def is_anchor_codec(codec) -> bool:
    """An anchor whose rate is nominal (e.g. ``lowpass-anchor``): never shown as a low-bitrate codec."""
    return payload_label(codec).lower().startswith(NOMINAL)


def _trainable(cls) -> bool:
    return callable(getattr(cls, "fit", None))


def check_codec_entries(protocol: Protocol) -> None:
    """Before any work: a codec protocol runs registered codecs only, each at distinct row ids."""
    from systems import get_system, system_table

    if protocol.kind != CODEC:
        raise RunError(f"protocol {protocol.name!r} is a {protocol.kind} protocol; the codec runner runs "
                       f"protocols with kind={CODEC!r}")
    names = [codec_row_name(entry, steps) for entry in protocol.systems for steps in decode_steps(entry)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RunError(f"protocol {protocol.name!r} runs the row(s) {twice} twice: entries of one codec need "
                       "distinct operating points (config values the codec declares in row_options)")
    for index, entry in enumerate(protocol.systems):
        cls = get_system(entry.system)  # an unknown name fails here, with close matches
        where = f"protocol {protocol.name!r}, entry {index} ({entry.system})"
        if cls.kind != "codec":
            codecs = sorted(n for n in system_table() if _kind_of(n) == "codec")
            raise RunError(f"{where}: {entry.system!r} is a text-to-audio system ({cls.kind}), not a codec; "
                           f"a codec protocol runs codecs only ({', '.join(codecs)}); put text-to-audio "
                           "systems in a text-to-audio protocol such as sfx-mini")
        _check_codec_entry(entry, cls, where)


def _kind_of(name: str) -> str | None:
    from systems import get_system

    try:
        return get_system(name).kind
    except Exception:  # noqa: BLE001 - a broken plugin is simply not offered as a codec
        return None


def _check_codec_entry(entry: SystemEntry, cls, where: str) -> None:
    from systems.api import SystemInputError, check_steps

    if entry.samplers:
        raise RunError(f"{where}: a codec takes no sampler; give samplers=() (got {list(entry.samplers)})")
    if entry.guidance is not None:
        raise RunError(f"{where}: a codec takes no guidance; leave it unset (got {entry.guidance!r})")
    try:
        [check_steps(s) for s in entry.steps]
    except SystemInputError as exc:
        raise RunError(f"{where}: decode {exc}") from None
    if not _trainable(cls):
        if entry.budget is not None or entry.train:
            raise RunError(f"{where}: the codec is not trained, so it takes no training budget or settings")
        return
    if entry.budget is None:
        raise RunError(f"{where}: the codec is trained inside the run (it has fit); give its SystemEntry "
                       "budget=budget_for(...) (bench.protocols.budgets)")
    unknown = sorted(set(entry.train) - set(getattr(cls, "train_defaults", {})))
    if unknown:
        raise RunError(f"{where}: no training setting(s) {unknown}; known: "
                       f"{sorted(getattr(cls, 'train_defaults', {}))}")
    if getattr(entry.budget, "batch", 1) is None:
        raise RunError(f"{where}: the budget names no batch size (Budget(batch=...))")


def train_codec(entry: SystemEntry, codec, clock, progress: bool) -> dict:
    """Train a trainable codec under its entry's budget (or reuse its stored run); its training
    record (plus the budget rule it ran under), or {} for a codec that is not trained."""
    if not _trainable(type(codec)):
        return {}
    t0 = time.perf_counter()
    codec.fit(entry.budget, settings=entry.train, progress=progress)
    clock.add("train", time.perf_counter() - t0)
    record = codec.training_record() if callable(getattr(codec, "training_record", None)) else {}
    rule = RULES.get(getattr(codec, "trained_from", "teacher"))
    return {**record, **({"rule": rule} if rule else {})}
