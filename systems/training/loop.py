"""A generic, resumable, budgeted trainer for anything that can state a loss (``TrainTask``).

``train(task, budget, run_dir)`` keeps in ``run_dir``:

- ``state.safetensors``: the latest full state (modules, EMA shadows, optimizer, update counter,
  spent budget incl. cumulative wall time, log history, the running log window), written
  atomically every ``checkpoint_every`` updates and at the end;
- ``log.jsonl``: one JSON line per log point ``{"update", "loss", <task scalars>, "lr", "wall_s"}``
  where ``update`` is the number of updates done and ``loss``/scalars are means since the
  previous log point (a log point every ``log_every`` updates, plus one when the run stops);
- ``report.json``: the ``TrainReport`` of the finished run.

Resuming: if ``state.safetensors`` exists (same kind and config, else ``CheckpointError``) the run
continues from it and ``log.jsonl`` is rewritten from the checkpoint's history, which drops the
lines written after that checkpoint. Update ``i`` (0-based) uses ``task.batch(i)``, a generator
seeded from ``(seed, i)`` and the global torch RNG (dropout) re-seeded from ``(seed, i)``, so an
interrupted-and-resumed run is bitwise equal to an uninterrupted one (given deterministic ops).
Wall time spent after the last checkpoint of a killed run is lost from the wall budget.

After ``train`` the task's modules hold the trained (raw) weights; ``load_ema(task, run_dir)``
copies the EMA weights into them instead.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from common import dist
from systems.training import data_parallel as dp
from systems.training.budget import Budget, BudgetTracker, TrainReport
from systems.training.checkpoint import (
    CheckpointError,
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

STATE_FILE, LOG_FILE, REPORT_FILE = "state.safetensors", "log.jsonl", "report.json"
LOSS_KEY = "\0loss"   # the loss among the scalars averaged over data-parallel ranks


class TrainTask(Protocol):
    """What ``train`` needs from a trainable component or accelerator.

    ``modules()`` must return the same module objects on every call. Optional extras, read
    with ``getattr``: ``batch_examples(batch) -> int`` (examples in a batch; by default the
    first dimension of the first tensor found in the batch) and ``offline_teacher_nfe: int``
    (teacher evaluations spent offline, e.g. on precomputed pairs; read before every update).
    """

    kind: str
    config: Mapping

    def modules(self) -> dict[str, nn.Module]: ...
    def make_optimizer(self) -> torch.optim.Optimizer: ...
    def batch(self, update: int) -> Any: ...
    def loss(self, batch: Any, generator: torch.Generator) -> tuple[Tensor, dict[str, float], int]: ...


# ---------------------------------------------------------------- seeding helpers

def derive_seed(seed: int, update: int, stream: str) -> int:
    """A 63-bit seed from (seed, update, stream) by hashing, so streams never collide."""
    digest = hashlib.sha256(f"{seed}/{update}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@lru_cache(maxsize=8)
def _epoch_permutation(n_items: int, epoch: int, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(derive_seed(seed, epoch, "order"))
    return torch.randperm(n_items, generator=generator)


def seeded_order(n_items: int, batch_size: int, update: int, seed: int) -> Tensor:
    """Item indices (int64) of batch ``update``: one permutation per epoch, seeded by (seed, epoch).

    The data stream is the concatenation of the epoch permutations; batch ``u`` takes positions
    ``[u * batch_size, (u + 1) * batch_size)``, so a batch may straddle two epochs.
    """
    if n_items <= 0 or batch_size <= 0 or update < 0:
        raise ValueError(f"seeded_order needs n_items > 0, batch_size > 0, update >= 0; got "
                         f"{n_items}, {batch_size}, {update}")
    positions = torch.arange(update * batch_size, (update + 1) * batch_size)
    epochs = positions // n_items
    out = torch.empty(batch_size, dtype=torch.long)
    for epoch in epochs.unique().tolist():
        mask = epochs == epoch
        out[mask] = _epoch_permutation(n_items, epoch, seed)[positions[mask] % n_items]
    return out


def count_examples(batch: Any) -> int:
    """Leading dimension of the first tensor in ``batch`` (a tensor, mapping or sequence)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, Mapping):
        items = list(batch.values())
    else:
        items = list(batch) if isinstance(batch, (list, tuple)) else []
    for item in items:
        try:
            return count_examples(item)
        except TypeError:
            continue
    raise TypeError(f"cannot count the examples in a {type(batch).__name__} batch; give the task a "
                    "batch_examples(batch) -> int method")


# ---------------------------------------------------------------- the trainer

class _Trainer:
    """One invocation of ``train``: holds the live objects and the run's bookkeeping."""

    def __init__(self, task: TrainTask, budget: Budget, run_dir: Path, settings: dict[str, Any],
                 lr_schedule: Callable[[int], float] | None) -> None:
        self.task, self.run_dir, self.settings, self.lr_schedule = task, run_dir, settings, lr_schedule
        self.modules = dict(task.modules())
        bad = [name for name in self.modules if not name or "/" in name]
        if bad:
            raise ValueError(f"module names must be non-empty and free of '/': {bad}")
        self.optimizer = task.make_optimizer()
        for group in self.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])   # the base the lr_schedule multiplies
        decay = settings["ema_decay"]
        self.emas = {n: EMA(m, decay) for n, m in self.modules.items()} if decay is not None else {}
        self.params = [p for m in self.modules.values() for p in m.parameters() if p.requires_grad]
        self.tracker = BudgetTracker(budget)
        self.history: list[dict] = []
        self.window: dict[str, Any] = _empty_window()
        self.resumed_from: int | None = None
        self.saved_at: int | None = None
        self.world, self.rank = dp.world(), dist.rank() if dp.enabled() else 0   # data-parallel ranks
        dp.check_task(task, self.world)
        self.writes = self.rank == 0   # rank 0 alone writes the run folder

    # -- resume
    def resume(self) -> None:
        """Load ``state.safetensors`` if present; rewrite the log to match it."""
        path = self.run_dir / STATE_FILE
        if path.exists():
            checkpoint = _load_state(path, self.task)
            self._check_settings(checkpoint.meta["settings"])
            self._restore(checkpoint.tensors, checkpoint.meta)
            self.resumed_from = self.saved_at = self.tracker.updates
        if self.writes:
            _write_lines(self.run_dir / LOG_FILE, self.history)

    def _check_settings(self, stored: Mapping[str, Any]) -> None:
        diffs = [f"{k}: checkpoint {stored.get(k)}, requested {v}" for k, v in self.settings.items()
                 if stored.get(k) != v]
        if diffs:
            raise CheckpointError(f"{self.run_dir} was trained with other settings ({'; '.join(diffs)}); "
                                  "resume with the same settings or use another run folder")

    def _restore(self, tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
        for name, module in self.modules.items():
            load_module(module, tensors, f"model/{name}")
        for name, ema in self.emas.items():
            ema.load_state_dict(unpack_prefix(tensors, f"ema/{name}"))
        load_optimizer(self.optimizer, tensors, meta["optim"])
        self.tracker.load_totals(meta["tracker"])
        self.history, self.window = list(meta["history"]), dict(meta["window"])

    # -- the loop
    def run(self, progress: bool, checkpoint_every: int, log_every: int) -> TrainReport:
        """Update until the budget is spent; checkpoint, log and report along the way."""
        bar = tqdm(total=self.tracker.budget.max_updates, initial=self.tracker.updates,
                   disable=not progress, desc=f"train {self.task.kind}", dynamic_ncols=True)
        with bar, torch.random.fork_rng(devices=_cuda_devices(self.params)):
            self.tracker.tick()   # starts the clock; loading time is not charged
            while (stopped_by := self._exhausted()) is None:
                loss = self._update()
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                self._after_update(checkpoint_every, log_every)
        self._finish()
        return self._write_report(stopped_by)

    def _exhausted(self) -> str | None:
        self.tracker.offline_teacher_nfe = int(getattr(self.task, "offline_teacher_nfe", 0))
        stop = self.tracker.exhausted()
        return dist.broadcast(stop) if self.world > 1 else stop   # rank 0 decides for every rank

    def _update(self) -> float:
        """One optimiser update with per-update seeds; returns the loss value."""
        index = self.tracker.updates
        seed = self.settings["seed"]
        self._set_lr(index)
        batch = self.task.batch(index)
        examples = _examples(self.task, batch)
        batch = dp.shard_batch(batch, self.rank, self.world, examples)
        noise, rng = (dp.stream(name, self.world, self.rank) for name in ("noise", "global"))
        generator = torch.Generator(_device(self.params)).manual_seed(derive_seed(seed, index, noise))
        torch.manual_seed(derive_seed(seed, index, rng))   # dropout & co. resume exactly too
        self.optimizer.zero_grad(set_to_none=True)
        loss, scalars, nfe = self.task.loss(batch, generator)
        scalars = dp.mean_over_ranks({**{k: float(v) for k, v in scalars.items()},
                                      LOSS_KEY: float(loss.detach())}, self.world)
        value = _finite_loss(torch.tensor(scalars.pop(LOSS_KEY)), index, self.task.kind)
        loss.backward()
        dp.average_gradients(self.params, self.world)
        if self.settings["grad_clip"] is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.settings["grad_clip"])
            scalars["grad_norm"] = float(norm)
        self.optimizer.step()
        for name, ema in self.emas.items():
            ema.update(self.modules[name])
        if self.world > 1:
            examples, nfe = dp.sum_over_ranks(_examples(self.task, batch), int(nfe))
        self.tracker.step(examples, nfe)
        _accumulate(self.window, value, scalars)
        return value

    def _set_lr(self, index: int) -> None:
        if self.lr_schedule is None:
            return
        factor = float(self.lr_schedule(index))
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def _after_update(self, checkpoint_every: int, log_every: int) -> None:
        self.tracker.tick()
        if self.tracker.updates % log_every == 0:
            self._log(reset=True)
        if self.tracker.updates % checkpoint_every == 0:
            self._save()
            self.tracker.tick()   # checkpoint time is charged to the wall budget too

    def _log(self, reset: bool) -> None:
        """Append a log point (means over the window); a stop-time point keeps the window open."""
        if not self.window["n"]:
            return
        n, counts = self.window["n"], self.window.get("counts", {})
        entry = {"update": self.tracker.updates, "loss": self.window["loss"] / n}
        # a scalar a task reports only on some updates (ARC: G on even, D on odd) is averaged over
        # the updates that reported it
        entry.update({k: v / counts.get(k, n) for k, v in self.window["scalars"].items()})
        entry.update(lr=float(self.optimizer.param_groups[0]["lr"]), wall_s=self.tracker.wall_s)
        self.history.append(entry)
        if self.writes:
            with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        if reset:
            self.window = _empty_window()

    def _finish(self) -> None:
        """Final log point and checkpoint, unless this invocation changed nothing."""
        last_logged = self.history[-1]["update"] if self.history else 0
        if last_logged != self.tracker.updates:
            self._log(reset=False)   # keeps the window, so later log points match an unbroken run
        if self.saved_at != self.tracker.updates or self.resumed_from is None:
            self._save()

    def _save(self) -> None:
        tensors: dict[str, Tensor] = {}
        for name, module in self.modules.items():
            tensors.update(pack_module(f"model/{name}", module))
        for name, ema in self.emas.items():
            tensors.update({f"ema/{name}/{k}": v for k, v in ema.state_dict().items()})
        optim_tensors, optim_meta = pack_optimizer(self.optimizer)
        tensors.update(optim_tensors)
        meta = {"updates": self.tracker.updates, "tracker": self.tracker.totals(), "optim": optim_meta,
                "history": self.history, "window": self.window, "settings": self.settings}
        if self.writes:
            save_checkpoint(self.run_dir / STATE_FILE, tensors, kind=self.task.kind, config=self.task.config,
                            meta=meta)
        if self.world > 1:
            dist.barrier()   # the checkpoint is complete before any rank goes on
        self.saved_at = self.tracker.updates

    def _write_report(self, stopped_by: str | None) -> TrainReport:
        t = self.tracker
        report = TrainReport(updates=t.updates, wall_s=t.wall_s, online_teacher_nfe=t.online_teacher_nfe,
                             offline_teacher_nfe=t.offline_teacher_nfe, examples_seen=t.examples,
                             stopped_by=stopped_by, resumed_from_update=self.resumed_from,
                             history=list(self.history), budget=t.budget.to_dict())
        if self.writes:
            _write_json_atomic(self.run_dir / REPORT_FILE, report.to_dict())
        return report

    def stored_report(self) -> TrainReport | None:
        """The report of a finished run with this budget whose state is the loaded one."""
        path = self.run_dir / REPORT_FILE
        if self.resumed_from is None or not path.exists():
            return None
        try:
            report = TrainReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            return None   # unreadable or old report: recompute it (no updates if the budget is spent)
        same = report.budget == self.tracker.budget.to_dict() and report.updates == self.tracker.updates
        return report if same else None


def train(task: TrainTask, budget: Budget, run_dir: str | os.PathLike, *, seed: int = 0,
          ema_decay: float | None = 0.999, checkpoint_every: int = 200, log_every: int = 20,
          progress: bool = True, lr_schedule: Callable[[int], float] | None = None,
          grad_clip: float | None = 1.0) -> TrainReport:
    """Train ``task`` under ``budget`` in ``run_dir`` (resuming from it if it holds a state).

    ``lr_schedule(i)`` multiplies each param group's initial lr at 0-based update ``i``;
    ``grad_clip`` is the max global gradient norm (None: no clipping; the pre-clip norm is
    logged as ``grad_norm``). ``seed``, ``ema_decay`` and ``grad_clip`` must be the same when
    resuming. A finished run re-invoked with the same budget returns its stored report at once
    (after loading its final weights into the task's modules).
    """
    if checkpoint_every <= 0 or log_every <= 0:
        raise ValueError("checkpoint_every and log_every must be positive update counts")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = {"seed": seed, "ema_decay": ema_decay, "grad_clip": grad_clip}
    trainer = _Trainer(task, budget, run_dir, settings, lr_schedule)
    for module in trainer.modules.values():
        module.train()
    trainer.resume()
    return trainer.stored_report() or trainer.run(progress, checkpoint_every, log_every)


def load_ema(task: TrainTask, run_dir: str | os.PathLike) -> None:
    """Copy the EMA weights of the run in ``run_dir`` into ``task.modules()``."""
    path = Path(run_dir) / STATE_FILE
    checkpoint = _load_state(path, task)
    for name, module in task.modules().items():
        state = unpack_prefix(checkpoint.tensors, f"ema/{name}")
        if not state:
            raise CheckpointError(f"{path} holds no EMA for module {name!r} (trained with ema_decay=None?)")
        ema = EMA(module)
        ema.load_state_dict(state)
        ema.copy_to(module)


# ---------------------------------------------------------------- small helpers

def _load_state(path: Path, task: TrainTask):
    """The run state, with a hint to use another folder when it belongs to another run."""
    read_metadata(path)   # a missing or corrupt file raises its own error, without the hint below
    try:
        return load_checkpoint(path, kind=task.kind, config=task.config)
    except CheckpointError as error:
        raise CheckpointError(f"{error}. The run folder {path.parent} belongs to another run: use another "
                              "folder for this task (or delete it to start over)") from error


def _empty_window() -> dict[str, Any]:
    return {"n": 0, "loss": 0.0, "scalars": {}, "counts": {}}


def _accumulate(window: dict[str, Any], loss: float, scalars: Mapping[str, float]) -> None:
    """Add one update to the log window (Python floats: float64 sums; counts per scalar)."""
    if "counts" not in window:   # a window saved before per-scalar counts: every scalar came every update
        window["counts"] = {key: window["n"] for key in window["scalars"]}
    window["n"] += 1
    window["loss"] += loss
    for key, value in scalars.items():
        window["scalars"][key] = window["scalars"].get(key, 0.0) + value
        window["counts"][key] = window["counts"].get(key, 0) + 1


def _finite_loss(loss: Tensor, index: int, kind: str) -> float:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"{kind}: loss is {value} at update {index}; the last checkpoint is "
                                 "intact. Lower the learning rate or check the data, then rerun")
    return value


def _examples(task: TrainTask, batch: Any) -> int:
    counter = getattr(task, "batch_examples", None)
    return int(counter(batch)) if counter is not None else count_examples(batch)


def _device(params: list[Tensor]) -> torch.device:
    return params[0].device if params else torch.device("cpu")


def _cuda_devices(params: list[Tensor]) -> list[int]:
    """CUDA devices whose RNG state ``fork_rng`` must save (the caller's RNG is left untouched)."""
    return sorted({p.device.index or 0 for p in params if p.is_cuda})


def _write_lines(path: Path, entries: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    os.replace(tmp, path)


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
