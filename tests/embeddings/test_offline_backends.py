"""The offline backends: mel (weight-free), aisfx (PyPI wheel), yamnet (../shared TFLite)."""
from __future__ import annotations

import numpy as np
import pytest

from metrics.embeddings import aisfx as aisfx_mod
from metrics.embeddings.aisfx import AisfxBackend, block_starts
from metrics.embeddings.mel import MelStatistics
from metrics.embeddings.yamnet import YamnetBackend, frame_patches, patch_starts
from tests.conftest import tone


def test_mel_is_deterministic_with_expected_shapes():
    b = MelStatistics()
    b.load()
    out = b.embed([tone(440, 2.0), tone(440, 2.0)], frozenset({"layers"}))
    assert out[0]["embedding"].shape == (3, 128)
    assert np.array_equal(out[0]["embedding"], out[1]["embedding"])
    assert [layer.shape[1] for layer in out[0]["layers"]] == [64, 64]


def test_aisfx_block_layout():
    assert block_starts(99) == [] and block_starts(100) == [0]
    assert block_starts(216) == [0, 50, 100]  # 5 s at 44.1 kHz / hop 1024 -> 216 frames


@pytest.fixture(scope="module")
def aisfx():
    if not AisfxBackend.availability()[0]:
        pytest.skip("aisfx not installed (make installs it)")
    b = AisfxBackend()
    b.load()
    return b


def test_aisfx_batch_equals_single_and_short_clip_path(aisfx):
    clips = [tone(300 * (i + 1), 5.0, 44100) for i in range(3)] + [tone(500, 1.0, 44100)]
    batched = aisfx.embed(clips, frozenset())
    single = [aisfx.embed([c], frozenset())[0] for c in clips]
    assert [o["embedding"].shape for o in batched] == [(3, 512)] * 3 + [(1, 512)]
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a["embedding"], b["embedding"], rtol=1e-4, atol=1e-5)
    assert np.isfinite(aisfx.embed([np.zeros(44100, np.float32)], frozenset())[0]["embedding"]).all()


def test_aisfx_weights_converted_once_to_safetensors(aisfx):
    path = aisfx.weights_path
    assert path.suffix == ".safetensors" and path.exists()
    assert aisfx.config()["weights_sha256"] == path.stem.split("-")[1]
    assert aisfx_mod.AisfxBackend().config() == aisfx.config()  # key independent of loading


def test_yamnet_patch_layout():
    assert patch_starts(100) == [0] and patch_starts(15600) == [0]
    assert patch_starts(15601) == [0, 7680] and len(patch_starts(80000)) == 10
    assert frame_patches(np.ones(16000, np.float32)).shape == (2, 15600)


def test_yamnet_without_model_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTAUDIO_SHARED", str(tmp_path / "nowhere"))
    monkeypatch.delenv("FASTAUDIO_YAMNET", raising=False)
    ok, why = YamnetBackend.availability()
    assert not ok and ("--yamnet" in why or "ai-edge-litert" in why)


def test_yamnet_labels_a_real_clip(shared):
    import soundfile as sf

    from common.audio_io import resample

    if not YamnetBackend.availability()[0]:
        pytest.skip(YamnetBackend.availability()[1])
    b = YamnetBackend()
    b.load()
    x, rate = sf.read(shared / "data/esc50-cc/audio/4-182395-A-0.flac", dtype="float32")
    out = b.embed([resample(x, rate, 16000)], frozenset())[0]
    assert out["embedding"].shape == (10, 1024) and out["logits"].shape == (10, 521)
    top = np.argsort(-out["logits"].max(0))[:5]  # the clip is mostly silence after 1 s
    assert {"Dog", "Bark"} & {b.label_names()[i] for i in top}
