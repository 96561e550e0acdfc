"""Real audio: ESC-50 (CC subset) folds against each other on the offline real backends."""
from __future__ import annotations

import math

import pytest

from bench.evaluate import evaluate
from metrics.embeddings.aisfx import AisfxBackend
from metrics.embeddings.yamnet import YamnetBackend


@pytest.fixture(scope="module")
def esc50(shared_module):
    return shared_module / "data" / "esc50-cc" / "manifest.csv"


@pytest.fixture(scope="module")
def shared_module():
    from common.paths import shared_dir

    if shared_dir() is None:
        pytest.skip("../shared (real ESC-50 audio) is absent on this machine")
    for cls in (AisfxBackend, YamnetBackend):
        ok, why = cls.availability()
        if not ok:
            pytest.skip(why)
    return shared_dir()


def test_esc50_fold_against_folds(esc50, tmp_path):
    """Five classes, CC-BY clips against CC0 clips (different recordists); `make bench` runs
    all 50 classes. (The CC subset is almost all fold 4, so a fold split leaves 6 clips.)"""
    classes = ["dog", "rain", "rooster", "crow", "clock_tick"]
    where_gen = {"license": ["CC-BY"], "category": classes}
    where_ref = {"license": ["CC0"], "category": classes}
    metrics = ["fd@aisfx", "kad@aisfx", "prdc@aisfx:k=3", "fd@yamnet", "kad@yamnet",
               "prdc@yamnet:k=3", "kl@yamnet:pair=prompt", "is@yamnet:splits=2",
               "clap@clap-laion-audio"]
    r = evaluate(esc50, esc50, metrics, gen_where=where_gen, ref_where=where_ref,
                 out=tmp_path / "run", bootstrap=10, progress=False)
    for name in ["fd@aisfx", "kad@aisfx", "precision@aisfx:k=3", "recall@yamnet:k=3",
                 "fd@yamnet", "kad@yamnet", "kl@yamnet:pair=prompt", "is@yamnet:splits=2"]:
        assert r[name]["status"] == "ok", r[name]
        assert math.isfinite(r[name]["value"]) and r[name]["ci"] is not None
    assert r["is@yamnet:splits=2"]["value"] > 1.5  # several distinct classes are recognised
    assert r["clap@clap-laion-audio"]["status"] == "unavailable"
