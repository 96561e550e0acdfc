"""Shared fixtures: an isolated cache, synthetic audio writers, the optional ../shared folder."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from common.paths import shared_dir


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache root unless it sets one itself."""
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def write_wav(tmp_path):
    """write_wav(relpath, samples [n] or [n, ch], rate) -> Path."""
    def write(rel: str, samples: np.ndarray, rate: int = 16000):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, samples, rate, subtype="FLOAT" if path.suffix == ".wav" else None)
        return path
    return write


def tone(freq: float, seconds: float = 1.0, rate: int = 16000, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def shared():
    path = shared_dir()
    if path is None:
        pytest.skip("../shared (real audio and YAMNet) is absent on this machine")
    return path
