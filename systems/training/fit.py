"""Train an accelerator once per (system, teacher, budget, settings, code version); reuse it after.

``fit_in_store`` runs the generic resumable trainer (:func:`systems.training.loop.train`) in the
component store's folder ``<system>-<key hash>/train`` and then writes:

- ``final.safetensors``: the weights the system samples with (the EMA weights when EMA is on);
- ``report.json``: the ``TrainReport``, the process's peak resident RAM while training (it also
  holds the shared components), the total wall time and what the system adds (``extra``, e.g. a
  sanity check).

A killed run resumes from its last checkpoint on the next call (bit-identical: every update
draws its own seeded batch and noise); a finished one is only loaded.

Data-parallel (``bench train --data-parallel`` under torchrun, :mod:`systems.training.data_parallel`):
every rank trains its slice of each batch in the same store folder, whose key gains
``data_parallel: W``; rank 0 alone writes the files. The store's file lock is not taken (the ranks
train together): do not train the same key from another process meanwhile.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from common import dist
from common.memory import peak_ram_mb, reset_peak_ram
from systems.training import data_parallel as dp
from systems.training.budget import Budget
from systems.training.checkpoint import load_checkpoint, save_checkpoint
from systems.training.loop import load_ema, train
from systems.training.store import FINAL_FILE, ComponentStore

REPORT = "report.json"


@dataclass(frozen=True)
class FitPlan:
    """How to train one accelerator: its store key, its task and the trainer's options."""

    kind: str                          # the system's registered name (the store folder prefix)
    key: Mapping[str, Any]             # everything the trained weights depend on
    make_task: Callable[[dict], Any]   # key (with the budget) -> the TrainTask, built only to train
    module: str                        # the name (in ``task.modules()``) of the trained network
    seed: int = 0
    ema_decay: float | None = 0.999
    lr_schedule: Callable[[int], float] | None = None
    grad_clip: float | None = 1.0
    checkpoint_every: int = 100
    extra: Callable[[Any], dict] | None = None   # task -> JSON-able facts for the report
    train_kwargs: dict = field(default_factory=dict)


def fit_in_store(plan: FitPlan, budget: Budget, store: ComponentStore | None = None,
                 progress: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """(weights of ``plan.module``, the stored report), training first if the store lacks them."""
    store = store or ComponentStore()
    key = {**plan.key, "budget": budget.to_dict(), **({"data_parallel": dp.world()} if dp.enabled() else {})}
    if dp.enabled():
        final = _train_data_parallel(store, plan, key, budget, progress)
    else:
        final = store.get_or_train(plan.kind, key,
                                   lambda run_dir: _train(plan, key, budget, run_dir, progress))
    report = json.loads((final.parent / REPORT).read_text(encoding="utf-8"))
    weights = load_checkpoint(final, kind=plan.kind, config=key).tensors
    return weights, {**report, "store": str(final.parent)}


def _train_data_parallel(store: ComponentStore, plan: FitPlan, key: dict, budget: Budget,
                         progress: bool) -> Path:
    """Every rank trains in the store folder (no lock: the ranks train together); rank 0 writes."""
    run_dir = store.path(plan.kind, key)
    final = run_dir / FINAL_FILE
    if not dist.broadcast(final.exists()):
        dist.main_only(lambda: run_dir.mkdir(parents=True, exist_ok=True))
        _train(plan, key, budget, run_dir, progress and dist.is_main())
        dist.barrier()   # final.safetensors is written before any rank reads it
    return final


def _train(plan: FitPlan, key: Mapping[str, Any], budget: Budget, run_dir: Path, progress: bool) -> None:
    start = time.perf_counter()
    scope = reset_peak_ram("training")
    task = plan.make_task(dict(key))
    report = train(task, budget, run_dir / "train", seed=plan.seed, ema_decay=plan.ema_decay,
                   progress=progress, lr_schedule=plan.lr_schedule, grad_clip=plan.grad_clip,
                   checkpoint_every=plan.checkpoint_every, **plan.train_kwargs)
    if plan.ema_decay is not None:
        load_ema(task, run_dir / "train")
    module = task.modules()[plan.module]
    if not dist.is_main() and dp.enabled():
        return   # rank 0 alone checks, reports and writes the final weights
    extra = plan.extra(task) if plan.extra is not None else {}
    summary = {"kind": plan.kind, "train": report.to_dict(), "peak_train_ram_mb": peak_ram_mb(),
               "peak_train_ram_scope": scope, "total_wall_s": time.perf_counter() - start, **extra}
    # The report first: ``final.safetensors`` marks the component as done, so it is written last.
    (run_dir / REPORT).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    save_checkpoint(run_dir / FINAL_FILE, module.state_dict(), kind=plan.kind, config=key,
                    meta={"train": report.to_dict()})


def training_record(stored: Mapping[str, Any], budget: Budget) -> dict[str, Any]:
    """The leaderboard's training columns from a stored report."""
    train_report = stored["train"]
    return {"updates": train_report["updates"], "batch": budget.batch,
            "examples_seen": train_report["examples_seen"], "train_wall_s": train_report["wall_s"],
            "online_teacher_nfe": train_report["online_teacher_nfe"],
            "offline_teacher_nfe": train_report["offline_teacher_nfe"],
            "peak_train_ram_mb": stored.get("peak_train_ram_mb"), "stopped_by": train_report["stopped_by"],
            "budget": budget.to_dict(), "store": stored.get("store")}
