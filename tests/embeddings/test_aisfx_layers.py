"""aisfx layers for ``lpaps@aisfx``: layout, LPAPS properties, cache keys, listing, real clips.

The cache-key rules are tested with a weight-free stand-in backend; everything that runs the
network skips when the aisfx wheel is absent, and the real-clip test also when ../shared is.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from bench.cache import EmbeddingCache, cache_key
from bench.extract import Extractor, IOConfig, entry_config
from common.sources import load_source
from metrics.embeddings import aisfx as aisfx_mod
from metrics.embeddings.aisfx import AisfxBackend
from metrics.embeddings.mel import MelStatistics
from metrics.lpaps import lpaps
from tests.conftest import tone

SR = 44100
LAYERED, PLAIN = frozenset({"layers"}), frozenset()


def noise(seconds: float, seed: int) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).normal(size=int(seconds * SR))).astype(np.float32)


# -- cache keys (no weights needed) ------------------------------------------------------------
class DescribedLayers(MelStatistics):
    """A backend whose config describes its layers, as aisfx's does."""

    description = {"blocks": ["a", "b"], "v": 1}

    def config(self) -> dict:
        return {**super().config(), "layers": dict(self.description)}


def test_entry_config_keys_layered_entries_by_the_layer_description(monkeypatch):
    key = lambda b, want: cache_key(entry_config(b, want), IOConfig().key(), "sha")  # noqa: E731
    described = DescribedLayers()
    plain, layered = key(described, PLAIN), key(described, LAYERED)
    assert entry_config(described, PLAIN)["layers"] is False
    assert entry_config(described, LAYERED)["layers"] == DescribedLayers.description
    assert entry_config(MelStatistics(), LAYERED)["layers"] is True  # no description: as before
    monkeypatch.setattr(DescribedLayers, "description", {"blocks": ["a", "c"], "v": 2})
    assert key(described, PLAIN) == plain  # embeddings do not depend on the layer choice
    assert key(described, LAYERED) != layered  # layers cached under other blocks are not reused


# -- the network (aisfx wheel) --------------------------------------------------------------------
@pytest.fixture(scope="module")
def aisfx():
    if not AisfxBackend.availability()[0]:
        pytest.skip("aisfx not installed (make installs it)")
    b = AisfxBackend()
    b.load()
    return b


def test_layers_are_the_four_blocks_as_time_major_tokens(aisfx):
    import torch

    x = noise(5.0, 0)
    layers = aisfx.embed([x], LAYERED)[0]["layers"]
    frames = 1 + len(x) // aisfx_mod.HOP  # 216
    grids = [(frames // 2, 48), (frames // 4, 24), (frames // 8, 12), (frames // 8, 12)]
    assert [f.shape for f in layers] == [(t * f, c) for (t, f), c in zip(grids, (64, 128, 256, 512))]
    spec = torch.from_numpy(aisfx_mod.aisfx_spectrogram(x))[None, None].float()
    with torch.no_grad():  # block 1 by hand: [1, C, T, F] -> token (t, f) is row t * F + f
        by_hand = aisfx.net.conv_block1(spec, pool_size=(2, 2), pool_type="max")[0]
    np.testing.assert_allclose(layers[0][5 * 48 + 7], by_hand[:, 5, 7].numpy(), rtol=1e-5, atol=1e-6)


def test_layers_see_the_first_ten_seconds_unpadded(aisfx):
    long, short = noise(12.0, 1), noise(2.0, 2)
    first = aisfx.block_layers(long[:int(aisfx_mod.LAYERS_MAX_S * SR)])
    for a, b in zip(aisfx.block_layers(long), first, strict=True):
        np.testing.assert_array_equal(a, b)
    assert aisfx.block_layers(short)[0].shape[0] == ((1 + len(short) // aisfx_mod.HOP) // 2) * 48


def test_lpaps_is_zero_on_itself_symmetric_and_batch_independent(aisfx):
    clips = [noise(2.0, 3), tone(440, 2.0, SR), tone(880, 2.0, SR) + noise(2.0, 4) * 0.1,
             tone(300, 1.0, SR)]
    batched = aisfx.embed(clips, LAYERED)
    for clip, together in zip(clips, batched):
        alone = aisfx.embed([clip], LAYERED)[0]
        for a, b in zip(together["layers"], alone["layers"], strict=True):
            np.testing.assert_array_equal(a, b)  # each clip goes through the network alone
    a, b, c = (out["layers"] for out in batched[:3])
    assert lpaps(a, a) == 0.0 and lpaps(b, b) == 0.0
    assert lpaps(a, b) == pytest.approx(lpaps(b, a), rel=1e-12) and lpaps(a, b) > 0.0
    assert all(0.0 < lpaps(p, q) <= 16.0 for p, q in ((a, c), (b, c)))  # 4 layers, each in [0, 4]


def test_layered_cache_entries_are_distinct_and_follow_the_layer_choice(aisfx, write_wav,
                                                                        tmp_path, monkeypatch):
    for i in range(2):
        write_wav(f"clips/c{i}.wav", noise(1.5, 10 + i), SR)
    items = load_source(tmp_path / "clips").items
    cache = EmbeddingCache(tmp_path / "cache")
    ext = Extractor(IOConfig(), cache, batch_size=2, progress=False)
    plain = ext.features(aisfx, items, PLAIN)
    assert (cache.hits, cache.misses) == (0, 2) and plain[0].layers is None
    fresh = ext.features(aisfx, items, LAYERED)  # a plain entry is never taken for a layered one
    assert (cache.hits, cache.misses) == (0, 4) and len(fresh[0].layers) == 4
    cached = ext.features(aisfx, items, LAYERED)
    assert (cache.hits, cache.misses) == (2, 4)
    for a, b in zip(fresh[1].layers, cached[1].layers, strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setitem(aisfx_mod.LAYERS_CONFIG, "v", aisfx_mod.LAYERS_CONFIG["v"] + 1)
    ext.features(aisfx, items, LAYERED)  # other layers: recomputed, not the stale entries
    ext.features(aisfx, items, PLAIN)  # embeddings: still the cached ones
    assert (cache.hits, cache.misses) == (4, 6)


def test_lpaps_at_aisfx_is_listed_as_runnable_and_validates(aisfx):
    from bench import listing
    from bench.specs import parse_specs

    rows = {r.name: r for r in listing.metric_rows(listing.backend_rows())}
    assert "lpaps@aisfx" in rows["lpaps"].runnable
    assert [s.text for s in parse_specs(["lpaps@aisfx"])] == ["lpaps@aisfx"]


def test_evaluate_names_it_lpaps_at_aisfx_and_scores_a_clip_against_itself_zero(aisfx, write_wav,
                                                                                tmp_path):
    from bench.evaluate import evaluate

    for side in ("gen", "ref"):
        for i in range(2):
            write_wav(f"{side}/c{i}.wav", tone(300 * (i + 1), 1.0, SR) + noise(1.0, i) * 0.05, SR)
    results = evaluate(tmp_path / "gen", tmp_path / "ref", ["lpaps@aisfx"], bootstrap=0,
                       progress=False)
    entry = results["lpaps@aisfx"]
    assert entry["status"] == "ok" and entry["value"] == 0.0 and entry["n"] == 2
    assert entry["backend"] == "aisfx" and entry["backend_config"]["layers"]["blocks"] == list(
        aisfx_mod.LAYER_BLOCKS)
    assert "clap" not in json.dumps(entry).lower()  # not CLAP-LPAPS, in name or description


def test_real_clip_and_its_noisy_copy_are_far_closer_than_two_different_clips(aisfx, shared):
    """ESC-50 clips without digital silence (noise filling silence is a large change here).

    Same-class pairs are closer than other-class pairs on average (3.5 vs 4.4 over 6 classes),
    not pair by pair: these two crying babies differ more (4.59) than one of them and rain (4.17).
    """
    audio = shared / "data/esc50-cc/audio"
    baby, baby2, rain = (sf.read(audio / f"{i}.flac", dtype="float32")[0]
                         for i in ("5-198411-E-20", "5-151085-A-20", "3-132852-A-10"))
    hiss = np.random.default_rng(0).normal(size=baby.shape).astype(np.float32)
    hiss *= np.sqrt(np.mean(baby**2) / np.mean(hiss**2)) * 0.01  # 40 dB SNR
    ref = aisfx.block_layers(baby)
    noisy, same, other = (lpaps(ref, aisfx.block_layers(y)) for y in (baby + hiss, baby2, rain))
    assert noisy < 0.5 * min(same, other)  # measured: 0.66 vs 4.59 and 4.17
    assert lpaps(ref, aisfx.block_layers(0.5 * baby)) == 0.0  # aisfx peak-normalises its input
