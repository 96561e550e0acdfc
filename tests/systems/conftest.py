"""Micro shared components (seconds to train) for contract tests of every registered system."""
from __future__ import annotations

import pytest


def micro_preset():
    """The ``micro`` preset: a few dozen updates on 48 procedural clips (seconds)."""
    from systems.components.presets import get_preset

    return get_preset("micro")


@pytest.fixture(scope="session")
def micro_store(tmp_path_factory):
    from systems.training.store import ComponentStore

    return ComponentStore(tmp_path_factory.mktemp("components"))


@pytest.fixture(scope="session")
def micro_components(micro_store):
    from systems.components.shared import load_components

    return load_components(micro_preset(), "cpu", store=micro_store, progress=False)
