"""Training infrastructure shared by every trainable component and accelerator.

``Budget``/``BudgetTracker``/``TrainReport`` (budget.py) · ``EMA`` (ema.py) · self-describing,
atomic safetensors checkpoints (checkpoint.py) · the resumable trainer ``train`` over a
``TrainTask`` (loop.py) · ``ComponentStore``, train-once-per-config storage (store.py).
"""
from __future__ import annotations

from systems.training.budget import Budget, BudgetTracker, TrainReport
from systems.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    config_hash,
    load_checkpoint,
    load_module,
    load_optimizer,
    pack_module,
    pack_optimizer,
    read_metadata,
    save_checkpoint,
    unpack_prefix,
)
from systems.training.ema import EMA
from systems.training.loop import TrainTask, derive_seed, load_ema, seeded_order, train
from systems.training.store import ComponentStore

__all__ = ["Budget", "BudgetTracker", "TrainReport", "EMA", "Checkpoint", "CheckpointError", "config_hash",
           "save_checkpoint", "load_checkpoint", "read_metadata", "pack_module", "unpack_prefix",
           "load_module", "pack_optimizer", "load_optimizer", "TrainTask", "train", "load_ema",
           "seeded_order", "derive_seed", "ComponentStore"]
