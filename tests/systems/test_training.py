"""Training infrastructure: budgets, EMA, checkpoints, the resumable trainer, the component store."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from common.paths import REPO_ROOT
from systems.training import (
    EMA,
    Budget,
    BudgetTracker,
    CheckpointError,
    ComponentStore,
    config_hash,
    load_checkpoint,
    load_ema,
    load_optimizer,
    pack_optimizer,
    read_metadata,
    save_checkpoint,
    seeded_order,
    train,
)
from tests.systems._train_helpers import TRAIN_KW, LinearTask


@pytest.fixture
def deterministic():
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(previous)


def weights(task: LinearTask) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in task.net.state_dict().items()}


def assert_bitwise(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def log_entries(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def without_wall(entries: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "wall_s"} for e in entries]


# ---------------------------------------------------------------- budget

@pytest.mark.parametrize("kwargs, words", [
    ({}, "at least one limit"),
    ({"max_updates": 0}, "max_updates"),
    ({"max_updates": -3}, "max_updates"),
    ({"max_updates": 1.5}, "max_updates"),
    ({"max_examples": True}, "max_examples"),
    ({"max_teacher_nfe": 0}, "max_teacher_nfe"),
    ({"max_wall_s": float("inf")}, "max_wall_s"),
    ({"max_wall_s": float("nan")}, "max_wall_s"),
    ({"max_wall_s": 0.0}, "max_wall_s"),
])
def test_budget_validation(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Budget(**kwargs)


def test_budget_round_trip():
    budget = Budget(max_updates=10, max_wall_s=2.5)
    assert Budget.from_dict(json.loads(json.dumps(budget.to_dict()))) == budget


@pytest.mark.parametrize("budget, spend, expected", [
    (Budget(max_updates=3), lambda t: [t.step(1) for _ in range(3)], "max_updates"),
    (Budget(max_examples=40), lambda t: [t.step(16) for _ in range(3)], "max_examples"),
    (Budget(max_teacher_nfe=10), lambda t: t.step(1, online_teacher_nfe=10), "max_teacher_nfe"),
    (Budget(max_teacher_nfe=10), lambda t: setattr(t, "offline_teacher_nfe", 10), "max_teacher_nfe"),
])
def test_tracker_exhaustion(budget, spend, expected):
    tracker = BudgetTracker(budget)
    assert tracker.exhausted() is None
    spend(tracker)
    assert tracker.exhausted() == expected


def test_tracker_counts_online_plus_offline_nfe():
    tracker = BudgetTracker(Budget(max_teacher_nfe=10))
    tracker.offline_teacher_nfe = 6
    tracker.step(4, online_teacher_nfe=3)
    assert tracker.teacher_nfe == 9 and tracker.exhausted() is None
    tracker.step(4, online_teacher_nfe=1)
    assert tracker.exhausted() == "max_teacher_nfe"


def test_tracker_wall_time_with_fake_clock():
    now = [100.0]
    tracker = BudgetTracker(Budget(max_wall_s=5.0, max_updates=100), clock=lambda: now[0])
    tracker.tick()   # starts the clock
    now[0] += 3.0
    tracker.tick()
    assert tracker.wall_s == 3.0 and tracker.exhausted() is None
    now[0] += 2.0
    tracker.tick()
    assert tracker.exhausted() == "max_wall_s"


# ---------------------------------------------------------------- EMA

def test_ema_matches_closed_form():
    model = nn.Linear(3, 2)
    decay, n = 0.9, 7
    generator = torch.Generator().manual_seed(0)
    values = [torch.randn(2, 3, generator=generator, dtype=torch.float64) for _ in range(n + 1)]
    with torch.no_grad():
        model.weight.copy_(values[0])
    ema = EMA(model, decay)
    for k in range(1, n + 1):
        with torch.no_grad():
            model.weight.copy_(values[k])
        ema.update(model)
    expected = decay**n * values[0] + sum((1 - decay) * decay ** (n - k) * values[k] for k in range(1, n + 1))
    assert ema.shadow["weight"].dtype == torch.float32
    torch.testing.assert_close(ema.shadow["weight"].double(), expected, rtol=0, atol=1e-6)


def test_ema_warmup_decay_sequence():
    ema = EMA(nn.Linear(1, 1), 0.28, warmup=True)
    decays = []
    for _ in range(4):
        decays.append(ema.current_decay())
        ema.update(nn.Linear(1, 1))
    assert decays == pytest.approx([1 / 10, 2 / 11, 3 / 12, 0.28])


def test_ema_state_dict_round_trip_and_copy_to(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    ema = EMA(model, 0.8)
    model(torch.randn(8, 4))   # moves BatchNorm statistics and its integer counter
    ema.update(model)
    save_file(ema.state_dict(), tmp_path / "ema.safetensors")
    restored = EMA(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)), 0.8)
    restored.load_state_dict(load_checkpoint_plain(tmp_path / "ema.safetensors"))
    assert restored.num_updates == 1
    assert_bitwise(restored.shadow, ema.shadow)
    assert restored.shadow["1.num_batches_tracked"].item() == 1
    target = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    restored.copy_to(target)
    assert torch.equal(target[0].weight, ema.shadow["0.weight"])


def load_checkpoint_plain(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path)


# ---------------------------------------------------------------- checkpoints

CONFIG = {"width": 256, "depth": 4, "optim": {"lr": 1e-3, "betas": [0.9, 0.99]}}


def test_config_hash_is_canonical_and_refuses_non_json():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": (1, 2), "a": 1})
    assert len(config_hash(CONFIG)) == 16 and config_hash(CONFIG) != config_hash({**CONFIG, "depth": 5})
    with pytest.raises(ValueError, match=r"config\['path'\] is a PosixPath"):
        config_hash({"path": Path("/x")})
    with pytest.raises(ValueError, match="nan"):
        config_hash({"x": [float("nan")]})


def test_checkpoint_round_trip(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5), "c": torch.randn(4, 3).t(),
               "s": torch.tensor(2.5)}
    path = save_checkpoint(tmp_path / "x.safetensors", tensors, kind="teacher", config=CONFIG,
                           meta={"updates": 7})
    loaded = load_checkpoint(path, kind="teacher", config=CONFIG)
    assert_bitwise(loaded.tensors, tensors)
    assert loaded.kind == "teacher" and loaded.config == CONFIG and loaded.meta == {"updates": 7}
    assert loaded.config_hash == config_hash(CONFIG)
    assert read_metadata(path).meta == {"updates": 7}
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]   # no temp files left


def test_checkpoint_shared_storage_is_saved(tmp_path):
    weight = torch.randn(4, 4)
    path = save_checkpoint(tmp_path / "tied.safetensors", {"enc": weight, "dec": weight, "row": weight[0]},
                           kind="k", config={})
    loaded = load_checkpoint(path).tensors
    assert torch.equal(loaded["enc"], loaded["dec"]) and torch.equal(loaded["row"], weight[0])


@pytest.mark.parametrize("damage", ["truncate", "random", "empty"])
def test_corrupt_checkpoint(tmp_path, damage):
    path = save_checkpoint(tmp_path / "x.safetensors", {"a": torch.randn(64, 64)}, kind="k", config={})
    data = path.read_bytes()
    broken = {"truncate": data[: len(data) // 2], "random": os.urandom(4096), "empty": b""}[damage]
    path.write_bytes(broken)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "none.safetensors")
    save_file({"a": torch.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="not a fastaudio-bench/1 checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors")


def test_kind_and_config_mismatch(tmp_path):
    path = save_checkpoint(tmp_path / "x.safetensors", {"a": torch.zeros(1)}, kind="teacher", config=CONFIG)
    with pytest.raises(CheckpointError, match="holds a 'teacher', expected 'autoencoder'"):
        load_checkpoint(path, kind="autoencoder")
    other = {**CONFIG, "width": 128, "optim": {"lr": 1e-3, "betas": [0.9, 0.999]}, "extra": True}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, config=other)
    message = str(info.value)
    assert "width: checkpoint 256, requested 128" in message
    assert "optim.betas" in message and "extra: checkpoint <absent>, requested true" in message
    load_checkpoint(path, config={**CONFIG, "optim": {"lr": 1e-3, "betas": (0.9, 0.99)}})   # tuple == list


def test_failed_write_keeps_old_checkpoint_and_no_temp(tmp_path):
    path = save_checkpoint(tmp_path / "x.safetensors", {"a": torch.ones(2)}, kind="k", config={})
    with pytest.raises(TypeError):
        save_checkpoint(path, {"a": "not a tensor"}, kind="k", config={})
    with pytest.raises(ValueError):
        save_checkpoint(path, {"a": torch.zeros(2)}, kind="k", config={"bad": object()})
    assert torch.equal(load_checkpoint(path).tensors["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]


def test_optimizer_state_round_trip(tmp_path):
    def make():
        torch.manual_seed(0)
        model = nn.Linear(3, 2)
        return model, torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))

    def step(model, optimizer):
        optimizer.zero_grad()
        model(torch.ones(4, 3)).square().sum().backward()
        optimizer.step()

    model, optimizer = make()
    step(model, optimizer)
    tensors, meta = pack_optimizer(optimizer)
    assert {"optim/0/exp_avg", "optim/0/exp_avg_sq", "optim/0/step"} <= set(tensors)
    path = save_checkpoint(tmp_path / "o.safetensors", tensors, kind="k", config={}, meta=meta)
    model2, optimizer2 = make()
    model2.load_state_dict(model.state_dict())
    loaded = load_checkpoint(path)
    load_optimizer(optimizer2, loaded.tensors, loaded.meta)
    assert optimizer2.param_groups[0]["betas"] == (0.8, 0.9)
    step(model, optimizer)
    step(model2, optimizer2)
    assert_bitwise(model.state_dict(), model2.state_dict())


# ---------------------------------------------------------------- trainer

def test_seeded_order_is_an_epoch_permutation():
    batches = [seeded_order(10, 4, u, seed=3) for u in range(3)]
    first_epoch = torch.cat([batches[0], batches[1], batches[2][:2]])
    assert sorted(first_epoch.tolist()) == list(range(10))
    assert torch.equal(seeded_order(10, 4, 5, 3), seeded_order(10, 4, 5, 3))
    assert not torch.equal(seeded_order(10, 10, 0, 3), seeded_order(10, 10, 1, 3))


def test_loss_decreases_and_budget_stops_exactly(tmp_path, deterministic):
    task = LinearTask()
    report = train(task, Budget(max_updates=157), tmp_path / "run", **TRAIN_KW)
    assert report.updates == 157 and report.stopped_by == "max_updates"
    assert report.examples_seen == 157 * 16 and report.resumed_from_update is None
    history = log_entries(tmp_path / "run")
    assert history == report.history and history[-1]["update"] == 157
    late = sum(e["loss"] for e in history[-5:]) / 5
    assert late < 0.2 * history[0]["loss"]
    assert {"loss", "x_std", "grad_norm", "lr", "wall_s"} <= set(history[0])
    assert json.loads((tmp_path / "run" / "report.json").read_text()) == report.to_dict()
    assert load_checkpoint(tmp_path / "run" / "state.safetensors").meta["updates"] == 157


def test_same_seed_same_weights(tmp_path, deterministic):
    a, b, c = LinearTask(), LinearTask(), LinearTask()
    train(a, Budget(max_updates=20), tmp_path / "a", **TRAIN_KW)
    train(b, Budget(max_updates=20), tmp_path / "b", **TRAIN_KW)
    train(c, Budget(max_updates=20), tmp_path / "c", seed=1, **TRAIN_KW)
    assert_bitwise(weights(a), weights(b))
    assert not torch.equal(weights(a)["1.weight"], weights(c)["1.weight"])


def ema_weights(task_factory, run_dir: Path) -> dict[str, torch.Tensor]:
    task = task_factory()
    load_ema(task, run_dir)
    return weights(task)


def test_resume_is_bitwise_equal_to_uninterrupted(tmp_path, deterministic):
    kw = {**TRAIN_KW, "log_every": 7}   # log points that do not align with the stop at 30
    resumed = LinearTask()
    first = train(resumed, Budget(max_updates=30), tmp_path / "resumed", **kw)
    assert first.updates == 30
    report = train(resumed, Budget(max_updates=60), tmp_path / "resumed", **kw)
    assert report.resumed_from_update == 30 and report.updates == 60
    straight = LinearTask()
    reference = train(straight, Budget(max_updates=60), tmp_path / "straight", **kw)
    assert_bitwise(weights(resumed), weights(straight))
    assert_bitwise(ema_weights(LinearTask, tmp_path / "resumed"),
                   ema_weights(LinearTask, tmp_path / "straight"))
    extra = [e for e in without_wall(report.history) if e["update"] != 30]
    assert extra == without_wall(reference.history)   # same log points, same means


def test_finished_run_returns_stored_report(tmp_path, deterministic):
    task = LinearTask()
    report = train(task, Budget(max_updates=12), tmp_path / "run", **TRAIN_KW)
    again = LinearTask()
    assert train(again, Budget(max_updates=12), tmp_path / "run", **TRAIN_KW) == report
    assert again.loss_calls == 0
    assert_bitwise(weights(again), weights(task))   # the final weights are loaded


def test_other_config_in_same_folder_is_refused(tmp_path):
    train(LinearTask(), Budget(max_updates=2), tmp_path / "run", **TRAIN_KW)
    with pytest.raises(CheckpointError, match="dim: checkpoint 8, requested 4.*another folder"):
        train(LinearTask(dim=4), Budget(max_updates=4), tmp_path / "run", **TRAIN_KW)
    with pytest.raises(CheckpointError, match="seed: checkpoint 0, requested 1"):
        train(LinearTask(), Budget(max_updates=4), tmp_path / "run", seed=1, **TRAIN_KW)


def test_budget_by_examples_and_teacher_nfe(tmp_path):
    report = train(LinearTask(), Budget(max_examples=100), tmp_path / "ex", **TRAIN_KW)
    assert (report.updates, report.stopped_by) == (7, "max_examples")
    task = LinearTask(nfe_per_example=1, offline_teacher_nfe=50)
    report = train(task, Budget(max_teacher_nfe=100), tmp_path / "nfe", **TRAIN_KW)
    assert (report.updates, report.stopped_by) == (4, "max_teacher_nfe")
    assert (report.online_teacher_nfe, report.offline_teacher_nfe) == (64, 50)


def test_wall_budget_is_cumulative(tmp_path):
    budget = Budget(max_wall_s=0.25)
    report = train(LinearTask(sleep_s=0.02), budget, tmp_path / "run", **TRAIN_KW)
    assert report.stopped_by == "max_wall_s" and 0.25 <= report.wall_s < 2.0
    again = LinearTask(sleep_s=0.02)
    assert train(again, budget, tmp_path / "run", **TRAIN_KW).updates == report.updates
    assert again.loss_calls == 0


def test_lr_schedule(tmp_path):
    report = train(LinearTask(), Budget(max_updates=5), tmp_path / "lr", lr_schedule=lambda i: 0.5,
                   **TRAIN_KW)
    assert report.history[-1]["lr"] == pytest.approx(0.025)


def test_nonfinite_loss_stops_with_clear_error(tmp_path):
    task = LinearTask()
    task.y = task.y * float("nan")
    with pytest.raises(FloatingPointError, match="loss is nan at update 0"):
        train(task, Budget(max_updates=5), tmp_path / "nan", **TRAIN_KW)


def test_kill_then_resume(tmp_path, deterministic):
    run_dir = tmp_path / "run"
    child = start_child(f"from tests.systems._train_helpers import train_in_subprocess; "
                        f"train_in_subprocess({str(run_dir)!r})")
    try:
        wait_for_log_past_checkpoint(child, run_dir)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    killed_at = read_metadata(run_dir / "state.safetensors").meta["updates"]
    assert 10 <= killed_at < 60
    task = LinearTask()
    report = train(task, Budget(max_updates=60), run_dir, **TRAIN_KW)
    assert report.resumed_from_update == killed_at and report.updates == 60
    straight = LinearTask()
    reference = train(straight, Budget(max_updates=60), tmp_path / "straight", **TRAIN_KW)
    assert_bitwise(weights(task), weights(straight))
    assert_bitwise(ema_weights(LinearTask, run_dir), ema_weights(LinearTask, tmp_path / "straight"))
    entries = log_entries(run_dir)
    assert [e["update"] for e in entries] == list(range(5, 61, 5))   # each log point exactly once
    assert without_wall(entries) == without_wall(reference.history)


def start_child(code: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_log_past_checkpoint(child: subprocess.Popen, run_dir: Path, timeout_s: float = 20.0) -> None:
    """Wait until the child has a checkpoint >= 10 and log lines beyond it (to be truncated)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(f"training child exited early: {child.stderr.read()}")
        state = run_dir / "state.safetensors"
        if state.exists():
            saved = read_metadata(state).meta["updates"]
            logged = [e["update"] for e in log_entries(run_dir)]
            if saved >= 10 and logged and logged[-1] > saved:
                return
        time.sleep(0.005)
    pytest.fail("the training child never got past its first checkpoint")


# ---------------------------------------------------------------- component store

def fake_trainer(calls: list[Path]):
    def train_fn(run_dir: Path) -> None:
        calls.append(run_dir)
        save_checkpoint(run_dir / "final.safetensors", {"w": torch.ones(2)}, kind="toy", config={"a": 1})
    return train_fn


def test_store_trains_once_and_reuses(tmp_path):
    store, calls = ComponentStore(tmp_path / "store"), []
    first = store.get_or_train("toy", {"a": 1}, fake_trainer(calls))
    second = store.get_or_train("toy", {"a": 1}, fake_trainer(calls))
    assert first == second == tmp_path / "store" / f"toy-{config_hash({'a': 1})}" / "final.safetensors"
    assert len(calls) == 1
    assert json.loads((first.parent / "config.json").read_text())["config"] == {"a": 1}
    assert ComponentStore().root == Path(os.environ["FASTAUDIO_CACHE"]) / "components"
    with pytest.raises(RuntimeError, match="without writing"):
        store.get_or_train("toy", {"a": 2}, lambda run_dir: None)


def test_store_stale_lock_from_dead_pid_is_taken_over(tmp_path):
    store, calls = ComponentStore(tmp_path, poll_s=0.01, lock_timeout_s=5), []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    run_dir = store.path("toy", {"a": 1})
    run_dir.mkdir(parents=True)
    (run_dir / ".lock").write_text(dead.stdout)
    assert store.get_or_train("toy", {"a": 1}, fake_trainer(calls)).exists() and len(calls) == 1


def test_store_lock_of_live_process_blocks_until_it_is_killed(tmp_path):
    store, calls = ComponentStore(tmp_path, poll_s=0.01, lock_timeout_s=0.2), []
    lock = store.path("toy", {"a": 1}) / ".lock"
    lock.parent.mkdir(parents=True)
    child = start_child(f"import fcntl, os, time; fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT); "
                        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'%d' % os.getpid()); "
                        "print('locked', flush=True); time.sleep(60)")
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(TimeoutError, match=f"pid {child.pid}"):
            store.get_or_train("toy", {"a": 1}, fake_trainer(calls))
    finally:
        child.kill()
        child.wait(timeout=10)
    assert store.get_or_train("toy", {"a": 1}, fake_trainer(calls)).exists() and len(calls) == 1
