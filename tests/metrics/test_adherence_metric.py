"""``adherence`` as a registered metric: real renders score 1, batching and bootstrap contracts."""
from __future__ import annotations

import numpy as np
import pytest

from common.sfx.dataset import make_items, render_item
from metrics import get_metric
from metrics.base import Features, MetricInputError


def features(items, wavs=None) -> list[Features]:
    wavs = wavs or [render_item(it) for it in items]
    return [Features(it.id, it.caption, audio=w[None, :], sample_rate=16000,
                     meta={k: v or "" for k, v in it.attrs.to_dict().items()}) for it, w in zip(items, wavs)]


def test_rendered_clips_adhere_fully_and_silence_does_not():
    items = make_items("test", 6)
    metric = get_metric("adherence")()
    metric.update_items(features(items), [])
    assert metric.compute()["value"] == 1.0
    silent = get_metric("adherence")()
    silent.update_items(features(items, [np.zeros(32768, np.float32)] * 6), [])
    assert silent.compute()["value"] < 0.5


def test_batched_equals_one_shot_and_bootstrap_draws_like_resample():
    feats = features(make_items("test", 5), [render_item(it) * (0.02 if i % 2 else 1.0)
                                             for i, it in enumerate(make_items("test", 5))])
    one, batched = get_metric("adherence")(), get_metric("adherence")()
    one.update_items(feats, [])
    for f in feats:
        batched.update_items([f], [])
    assert one.compute()["value"] == batched.compute()["value"]
    fast = one.bootstrap(feats, [], 7, np.random.default_rng(3))
    slow = [one._replicate(feats, [], rng) for rng in [np.random.default_rng(3)] for _ in range(7)]
    assert np.allclose(fast, slow)


def test_clips_without_procedural_attributes_are_a_clear_error():
    metric = get_metric("adherence")()
    with pytest.raises(MetricInputError, match="no procedural attributes"):
        metric.update_items([Features("x", "a dog", audio=np.zeros((1, 100)), sample_rate=16000)], [])
