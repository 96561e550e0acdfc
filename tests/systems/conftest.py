"""Micro shared components (seconds to train) for contract tests of every registered system."""
from __future__ import annotations

from dataclasses import replace

import pytest


def micro_preset():
    """The tiny preset shrunk to a few dozen updates on 48 procedural clips."""
    from systems.components.presets import get_preset

    tiny = get_preset("tiny")
    return replace(
        tiny, name="micro",
        mel=replace(tiny.mel, griffin_lim_iters=4),
        data={"source": "sfx", "n_train": 48, "seed": 0},
        ae_train=replace(tiny.ae_train, updates=20, batch=16, warmup=5),
        teacher=replace(tiny.teacher, width=32, depth=2, heads=2),
        teacher_train=replace(tiny.teacher_train, updates=20, batch=16, warmup=5),
    )


@pytest.fixture(scope="session")
def micro_store(tmp_path_factory):
    from systems.training.store import ComponentStore

    return ComponentStore(tmp_path_factory.mktemp("components"))


@pytest.fixture(scope="session")
def micro_components(micro_store):
    from systems.components.shared import load_components

    return load_components(micro_preset(), "cpu", store=micro_store, progress=False)
