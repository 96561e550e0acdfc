"""Protocol entries before and during a run: validation (before any work) and accelerator training.

``check_entries`` refuses, before a run starts, an unknown system, an accelerator without a
budget (or whose budget names no batch, or with training settings it does not have), a budget
given to a system that is not trained, and two entries that would write the same row.
``train_system`` trains (or reuses) an accelerator under its entry's budget and returns the
training record its rows carry (the teacher's own training for the teacher).
"""
from __future__ import annotations

import time

from bench.protocols.base import Protocol, SystemEntry
from bench.protocols.budgets import RULES


class RunError(ValueError):
    """A run that cannot start or continue; the message says how to fix it."""


def row_name(entry: SystemEntry, sampler: str, steps: int) -> str:
    """``system/sampler/steps``, plus ``/cfgW`` when the entry fixes the guidance (a CFG sweep),
    ``/<variant>`` when its config sets a generation setting the system declares as a row option
    (e.g. ``soundctm/ctm_gamma/4/nu1.5``; see ``row_variant``) and ``/int8`` when it runs the
    network quantised (``config={"precision": "int8"}``)."""
    name = f"{entry.system}/{sampler}/{steps}"
    name = name if entry.guidance is None else f"{name}/cfg{entry.guidance:g}"
    variant = row_variant(entry)
    name = f"{name}/{variant}" if variant else name
    precision = entry.config.get("precision", "fp32")
    return name if precision == "fp32" else f"{name}/{precision}"


def row_variant(entry: SystemEntry) -> str:
    """The entry's generation settings that tell its rows apart from the system's default rows:
    each of the system's ``row_options`` its config sets, as ``name<value>`` joined by ``,``
    (``"nu1.5"``, ``"gamma0.5,nu1.5"``); "" when it sets none (default rows keep their ids)."""
    from systems import get_system

    options = getattr(get_system(entry.system), "row_options", ())
    return ",".join(f"{key}{_short(entry.config[key])}" for key in options if key in entry.config)


def _short(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def check_entries(protocol: Protocol) -> None:
    """Before any work: every system exists, and exactly the accelerators name a budget."""
    from systems import get_system

    names = [row_name(entry, sampler, steps) for entry in protocol.systems
             for sampler in entry.samplers for steps in entry.steps]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RunError(f"protocol {protocol.name!r} runs the row(s) {twice} twice (entries that differ "
                       "only in config or training settings share a row id); give them distinct guidance "
                       "or drop one")
    for entry in protocol.systems:
        cls = get_system(entry.system)   # an unknown name fails here, with the known ones
        kind = cls.kind
        if kind == "accelerator":
            check_training(protocol, entry, cls)
        if kind == "accelerator" and entry.budget is None:
            raise RunError(f"protocol {protocol.name!r} runs the accelerator {entry.system!r} without a "
                           "training budget; give its SystemEntry budget=budget_for(...) "
                           "(bench.protocols.budgets) so it trains under the shared rules")
        if kind != "accelerator" and (entry.budget is not None or entry.train):
            raise RunError(f"protocol {protocol.name!r} gives {entry.system!r} (a {kind}) a training "
                           "budget or settings; only accelerators are trained inside a run")


def check_training(protocol: Protocol, entry: SystemEntry, cls) -> None:
    """An accelerator entry's training settings are the system's own, and its budget fixes a batch."""
    unknown = sorted(set(entry.train) - set(cls.train_defaults))
    if unknown:
        raise RunError(f"protocol {protocol.name!r}: {entry.system} has no training setting(s) {unknown}; "
                       f"known: {sorted(cls.train_defaults)}")
    if entry.budget is not None and entry.budget.batch is None:
        raise RunError(f"protocol {protocol.name!r}: the budget of {entry.system} names no batch size; every "
                       "accelerator trains at the budget's batch (Budget(batch=...))")


def train_system(ctx, entry: SystemEntry, system, components) -> dict:
    """Train (or reuse) an accelerator under its entry's budget; the training record of its rows."""
    if system.kind != "accelerator":
        return teacher_training(components) if entry.system == "teacher" else {}
    t0 = time.perf_counter()
    system.fit(entry.budget, settings=entry.train, progress=ctx.progress)
    ctx.clock.add("train", time.perf_counter() - t0)
    return {**system.training_record(), "rule": RULES[system.trained_from]}


def teacher_training(components) -> dict:
    """The shared teacher's own training, for the same columns (it is every accelerator's start)."""
    train = components.reports.get("teacher", {}).get("train", {})
    return {"updates": train.get("updates"), "batch": components.preset.teacher_train.batch,
            "examples_seen": train.get("examples_seen"), "train_wall_s": train.get("wall_s"),
            "online_teacher_nfe": 0, "offline_teacher_nfe": 0, "peak_train_ram_mb": None,
            "stopped_by": train.get("stopped_by"), "trained_from": "data",
            "rule": "the shared teacher: trained once per preset, the start of every accelerator"}
