"""Script for the torch.distributed tests: run the micro protocol (teacher, 3 prompts × 4 seeds) with
canonical generation batches of 4, under ``torchrun`` or alone.

Usage: ``python tests/bench/_dist_run.py OUT [--resume] [--diversity]`` (``--diversity``: with a
diversity set of 2 prompts × 2 generations, which rank 0 alone generates). With
``DIST_TEST_DIE_RANK=r`` rank r exits abruptly (``os._exit(3)``, no cleanup: a crashed worker)
right after writing its first batch of clips.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dataclasses import replace  # noqa: E402

from bench import generation  # noqa: E402
from bench.protocols.base import DiversitySet  # noqa: E402
from bench.runner import run_protocol  # noqa: E402
from common import dist  # noqa: E402
from tests.bench.test_runner import micro_protocol  # noqa: E402

GEN_BATCH = 4


def die_after_first_batch() -> None:
    original = generation._generate_cached

    def generate_then_die(*args, **kwargs):
        nfe = original(*args, **kwargs)
        os._exit(3)
        return nfe

    generation._generate_cached = generate_then_die


if __name__ == "__main__":
    dist.init_from_env()
    if os.environ.get("DIST_TEST_DIE_RANK") == str(dist.rank()):
        die_after_first_batch()
    protocol = micro_protocol()
    if "--diversity" in sys.argv:
        protocol = replace(protocol, diversity=DiversitySet(prompts=2, generations=2, metrics=("ccds@mel",)))
    run_protocol(protocol, sys.argv[1], resume="--resume" in sys.argv, progress=False, speed=False,
                 gen_batch=GEN_BATCH)
