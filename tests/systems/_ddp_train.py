"""Script for the data-parallel training tests: train ``LinearTask`` (batch 16, 20 updates) into OUT
over the ranks of a torchrun launch, data-parallel. Usage: ``python tests/systems/_ddp_train.py OUT
[--coupled]`` (``--coupled``: a task that does not declare itself data-parallel, to be refused)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common import dist  # noqa: E402
from systems.training import Budget, data_parallel, train  # noqa: E402
from tests.systems._train_helpers import TRAIN_KW, LinearTask  # noqa: E402


class CoupledTask(LinearTask):
    data_parallel = False


if __name__ == "__main__":
    dist.init_from_env()
    os.environ[data_parallel.ENV] = "1"
    task = (CoupledTask if "--coupled" in sys.argv else LinearTask)(batch_size=16)
    try:
        report = train(task, Budget(max_updates=20, batch=16), Path(sys.argv[1]), **TRAIN_KW)
    except ValueError as exc:
        print(f"refused on rank {dist.rank()}: {exc}", file=sys.stderr)
        sys.exit(2)
    if dist.is_main():
        print(json.dumps({"updates": report.updates, "examples": report.examples_seen,
                          "loss": report.history[-1]["loss"]}))
