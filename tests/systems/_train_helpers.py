"""A tiny deterministic training task (noisy linear regression) for the trainer tests.

Importable from a subprocess (``python -c "from tests.systems._train_helpers import ..."``) so a
test can kill a real training process midway.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from systems.training import Budget, seeded_order, train


class LinearTask:
    """y = x W + noise; input dropout and per-update input noise exercise both RNG paths."""

    kind = "linear-test"
    data_parallel = True   # a mean over independent examples: may train over torchrun ranks

    def __init__(self, n: int = 256, dim: int = 8, batch_size: int = 16, lr: float = 0.05,
                 data_seed: int = 0, sleep_s: float = 0.0, nfe_per_example: int = 0,
                 offline_teacher_nfe: int = 0) -> None:
        self.config = {"n": n, "dim": dim, "batch_size": batch_size, "lr": lr, "data_seed": data_seed}
        generator = torch.Generator().manual_seed(data_seed)
        self.x = torch.randn(n, dim, generator=generator)
        weight = torch.randn(dim, 2, generator=generator)
        self.y = self.x @ weight + 0.01 * torch.randn(n, 2, generator=generator)
        self.net = nn.Sequential(nn.Dropout(0.05), nn.Linear(dim, 2))
        with torch.no_grad():   # initialisation independent of the global RNG
            for param in self.net.parameters():
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
        self.sleep_s, self.nfe_per_example = sleep_s, nfe_per_example
        self.offline_teacher_nfe = offline_teacher_nfe
        self.loss_calls = 0

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.config["lr"])

    def batch(self, update: int) -> dict[str, torch.Tensor]:
        index = seeded_order(self.config["n"], self.config["batch_size"], update, self.config["data_seed"])
        return {"x": self.x[index], "y": self.y[index]}

    def loss(self, batch, generator):
        self.loss_calls += 1
        if self.sleep_s:
            time.sleep(self.sleep_s)   # slow enough for a test to kill the process midway
        x = batch["x"] + 0.01 * torch.randn(batch["x"].shape, generator=generator)
        loss = F.mse_loss(self.net(x), batch["y"])
        return loss, {"x_std": float(x.std())}, self.nfe_per_example * len(x)


TRAIN_KW = {"checkpoint_every": 10, "log_every": 5, "progress": False}


def train_in_subprocess(run_dir: str, max_updates: int = 60, sleep_s: float = 0.03) -> None:
    """What the kill test runs in a child process."""
    torch.use_deterministic_algorithms(True)
    train(LinearTask(sleep_s=sleep_s), Budget(max_updates=max_updates), Path(run_dir), **TRAIN_KW)
