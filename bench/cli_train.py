"""``python -m bench train``: train (or reuse) the shared components, or one accelerator, of a preset.

``train components`` trains the autoencoder and the teacher; ``train SYSTEM`` (e.g. ``audioturbo``,
``lafma``) trains that accelerator from them under the preset's shared budget
(``bench.protocols.budgets``: the accelerator budget, or the teacher's own for a system trained
from scratch) with its default training settings — the same store entry ``bench run`` uses.
Everything is cached in the component store (``$FASTAUDIO_CACHE/components``); a killed run
resumes where its last checkpoint was. Prints what was trained or reused, the wall time and the
peak RAM of this process.

``torchrun --nproc-per-node N -m bench train SYSTEM --data-parallel`` trains one accelerator
data-parallel over the N ranks (``systems.training.data_parallel``: each rank a slice of every
batch, gradients averaged, the budget counted globally; stored apart from 1-process weights).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train or reuse the shared components or an accelerator",
                       description=__doc__)
    p.add_argument("target", help="'components' (autoencoder + teacher) or an accelerator's registered name")
    p.add_argument("--preset", default="tiny", help="size preset: tiny (CPU, minutes) or base (GPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--store", help="component store folder (default: $FASTAUDIO_CACHE/components)")
    p.add_argument("--ae-updates", type=int, help="override the preset's autoencoder updates")
    p.add_argument("--teacher-updates", type=int, help="override the preset's teacher updates")
    p.add_argument("--n-train", type=int, help="override the number of training clips")
    p.add_argument("--data-parallel", action="store_true",
                   help="under torchrun: train the accelerator data-parallel over the ranks")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def preset_from_args(args: argparse.Namespace):
    from systems.components.presets import get_preset

    preset = get_preset(args.preset)
    if args.ae_updates:
        preset = replace(preset, ae_train=replace(preset.ae_train, updates=args.ae_updates))
    if args.teacher_updates:
        preset = replace(preset, teacher_train=replace(preset.teacher_train, updates=args.teacher_updates))
    if args.n_train:
        preset = replace(preset, data={**preset.data, "n_train": args.n_train})
    return preset


def summarise(report: dict) -> dict:
    """The headline of a component's training report (the full log stays in its folder)."""
    train = report.get("train", {})
    history = train.get("history") or [{}]
    return {"updates": train.get("updates"), "train_wall_s": round(train.get("wall_s", 0.0), 1),
            "total_wall_s": round(report.get("total_wall_s", 0.0), 1), "final_loss": history[-1].get("loss"),
            "n_clips": report.get("n_clips")}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench.protocols.budgets import budget_for
    from bench.speed import peak_ram_mb
    from common import dist
    from metrics.threads import apply_torch_threads
    from systems.components.shared import load_components
    from systems.training import data_parallel
    from systems.training.store import ComponentStore

    apply_torch_threads()  # one thread policy for torch (metrics.threads): $FASTAUDIO_TORCH_THREADS
    if args.data_parallel:
        if not dist.init_from_env(args.device):
            print("error: --data-parallel needs a torchrun launch with more than one process "
                  "(torchrun --nproc-per-node N -m bench train SYSTEM --data-parallel)", file=sys.stderr)
            return 2
        os.environ[data_parallel.ENV] = "1"
    try:
        preset = preset_from_args(args)
        system_cls = None if args.target == "components" else accelerator_class(args.target)
        budget = None if system_cls is None else budget_for(system_cls.trained_from, preset)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    store = ComponentStore(Path(args.store) if args.store else None)
    components = load_components(preset, args.device, store=store, progress=not args.quiet)
    summary = {"preset": preset.name, "store": str(store.root), "hashes": components.hashes,
               "trained": {kind: summarise(report) for kind, report in components.reports.items()}}
    if system_cls is not None:
        summary[args.target] = train_accelerator(system_cls, components, budget, store, not args.quiet)
    summary.update(wall_s=round(time.perf_counter() - start, 1), peak_rss_mb=round(peak_ram_mb(), 1),
                   ranks=dist.world_size())
    if dist.is_main():
        print(json.dumps(summary, indent=2))
    return 0


def accelerator_class(name: str):
    """The registered accelerator ``name``; another kind or an unknown name is a ValueError."""
    from systems import get_system, system_table

    if name not in system_table():
        known = sorted(n for n in system_table() if get_system(n).kind == "accelerator")
        raise ValueError(f"unknown system {name!r}; train 'components' or an accelerator: {', '.join(known)}")
    cls = get_system(name)
    if cls.kind != "accelerator":
        raise ValueError(f"{name!r} is a {cls.kind}, not an accelerator: nothing to train for it "
                         "(train 'components' for the shared teacher)")
    return cls


def train_accelerator(cls, components, budget, store, progress: bool) -> dict:
    """Fit ``cls`` under the preset's shared ``budget``; its training record."""
    from bench.protocols.budgets import RULES

    system = cls.from_components(components)
    system.fit(budget, store=store, progress=progress)
    return {**system.training_record(), "rule": RULES[cls.trained_from]}
