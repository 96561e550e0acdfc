"""``emb_cos``: closed forms, the paired accumulator contract, and the evaluation engine feeding it
(original vs decoded clips paired by id, embeddings from a backend: ``emb_cos@mel`` here)."""
from __future__ import annotations

from itertools import zip_longest

import numpy as np
import pytest

from bench.evaluate import evaluate
from bench.specs import parse_spec
from metrics import get_metric
from metrics.base import Features, Metric, MetricInputError
from metrics.embedding_cosine import EmbeddingCosine, cosine_similarity, embedding_cosine
from tests.conftest import tone


def feat(i: int, embedding) -> Features:
    return Features(id=f"c{i}", embedding=np.asarray(embedding, np.float64))


def pairs(n: int = 12, seed: int = 0) -> tuple[list[Features], list[Features]]:
    """Decoded (gen) / original (ref) clips with 3-frame 8-d embeddings, ids c0..c{n-1}."""
    rng = np.random.default_rng(seed)
    ref = [feat(i, rng.normal(size=(3, 8))) for i in range(n)]
    gen = [feat(i, r.embedding + rng.normal(size=(3, 8))) for i, r in enumerate(ref)]
    return gen, ref


def feed(metric: Metric, gen, ref, batch: int) -> dict:
    chunks = lambda xs: [xs[i:i + batch] for i in range(0, len(xs), batch)]  # noqa: E731
    for g, r in zip_longest(chunks(gen), chunks(ref[::-1]), fillvalue=[]):
        metric.update_items(g, r)
    return metric.compute()


def test_closed_forms():
    a = np.array([[1.0, 2.0, 2.0]])
    assert embedding_cosine(a, a) == pytest.approx(1.0)
    assert embedding_cosine(5.0 * a, a) == pytest.approx(1.0)  # scale-invariant
    assert embedding_cosine(-a, a) == pytest.approx(-1.0)
    assert embedding_cosine([[1.0, 0.0]], [[0.0, 3.0]]) == 0.0  # orthogonal
    assert embedding_cosine([[1.0, 1.0]], [[1.0, 0.0]]) == pytest.approx(1 / np.sqrt(2))
    assert embedding_cosine(np.zeros((1, 3)), a) == 0.0  # norms clamped at 1e-8: no NaN


def test_clip_level_averages_frames_first_and_frame_level_averages_cosines():
    gen, ref = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])
    assert embedding_cosine(gen, ref) == pytest.approx(1 / np.sqrt(2))  # cos((.5, .5), (1, 0))
    assert embedding_cosine(gen, ref, "frame") == pytest.approx(0.5)  # mean of 1 and 0
    assert cosine_similarity(gen, ref).tolist() == [1.0, 0.0]


def test_accumulator_batched_equals_one_shot_and_per_item_values():
    gen, ref = pairs()
    one_shot = feed(EmbeddingCosine(), gen, ref, len(gen))
    for batch in (1, 5):
        batched = feed(EmbeddingCosine(), gen, ref, batch)
        assert batched["value"] == pytest.approx(one_shot["value"], rel=1e-12)
    m = EmbeddingCosine()
    m.update_items(gen, ref)
    values = m.per_item()
    assert sorted(values) == sorted(f.id for f in gen)
    assert values["c3"] == pytest.approx(embedding_cosine(gen[3].embedding, ref[3].embedding))
    assert np.mean(list(values.values())) == pytest.approx(one_shot["value"]) and one_shot["n"] == 12
    m.reset()
    assert feed(m, gen, ref, 3)["value"] == pytest.approx(one_shot["value"], rel=1e-12)


def test_identical_and_orthogonal_sets_score_one_and_zero():
    _, ref = pairs(4)
    assert feed(EmbeddingCosine(), ref, ref, 2)["value"] == pytest.approx(1.0)
    ortho_ref = [feat(i, [[1.0, 0.0]]) for i in range(4)]
    ortho_gen = [feat(i, [[0.0, 2.0]]) for i in range(4)]
    assert feed(EmbeddingCosine(), ortho_gen, ortho_ref, 3)["value"] == 0.0


def test_bootstrap_resamples_pairs_like_the_other_paired_metrics():
    gen, ref = pairs(8)
    fast = EmbeddingCosine().bootstrap(gen, ref[::-1], 10, np.random.default_rng(3))
    slow = Metric.bootstrap(EmbeddingCosine(), gen, ref[::-1], 10, np.random.default_rng(3))
    np.testing.assert_allclose(fast, slow)
    assert np.all((-1 <= fast) & (fast <= 1))


def test_registered_with_its_declaration():
    cls = get_metric("emb_cos")
    assert cls is EmbeddingCosine and cls.info.kind == "paired" and cls.info.needs == ("embedding",)
    assert cls().higher_is_better and cls.info.domain == (-1.0, 1.0) and cls.info.needs_backend
    spec = parse_spec("emb_cos@aisfx:level=frame")[0]
    assert (spec.metric, spec.backend, spec.options) == ("emb_cos", "aisfx", {"level": "frame"})


@pytest.mark.parametrize("gen, ref, message", [
    ([[1.0, 0.0]], [[1.0, 0.0, 0.0]], "embedding sizes differ"),
    ([[np.nan, 0.0]], [[1.0, 0.0]], "NaN or Inf"),
    (np.ones((1, 2, 2)), [[1.0, 0.0]], r"expected a \[N, d\] array"),
])
def test_bad_embeddings_are_refused(gen, ref, message):
    with pytest.raises(MetricInputError, match=message):
        embedding_cosine(gen, ref)


def test_frame_level_needs_equal_frames_and_levels_are_checked():
    with pytest.raises(MetricInputError, match="2 vs 3 frames.*use level=clip"):
        embedding_cosine(np.ones((2, 4)), np.ones((3, 4)), "frame")
    with pytest.raises(MetricInputError, match="level must be one of"):
        embedding_cosine(np.ones((2, 4)), np.ones((2, 4)), "frames")
    with pytest.raises(MetricInputError, match="unknown option"):
        EmbeddingCosine(bogus=1)


def test_unmatched_or_missing_embeddings_are_clear_errors():
    gen, ref = pairs(3)
    m = EmbeddingCosine()
    m.update_items(gen, ref[:2])
    with pytest.raises(MetricInputError, match=r"without a reference: \['c2'\]"):
        m.compute()
    with pytest.raises(MetricInputError, match="has no embedding"):
        EmbeddingCosine().update_items([Features("c0")], [Features("c0")])


def test_the_engine_pairs_decoded_clips_with_their_originals(tmp_path, write_wav):
    """``evaluate(decoded, originals, ["emb_cos@mel"])``: per-item values, a CI, 1.0 for a copy."""
    rng = np.random.default_rng(0)
    for i in range(4):
        original = tone(300 + 150 * i, seconds=1.0)
        write_wav(f"ref/c{i}.wav", original)
        write_wav(f"copy/c{i}.wav", original)
        write_wav(f"noisy/c{i}.wav", original + 0.05 * rng.standard_normal(original.shape).astype(np.float32))
    kw = {"bootstrap": 20, "progress": False, "cache_dir": tmp_path / "cache"}
    copy = evaluate(tmp_path / "copy", tmp_path / "ref", ["emb_cos@mel"], **kw)["emb_cos@mel"]
    assert copy["status"] == "ok" and copy["value"] == pytest.approx(1.0) and copy["n"] == 4
    noisy = evaluate(tmp_path / "noisy", tmp_path / "ref", ["emb_cos@mel"], **kw)["emb_cos@mel"]
    assert noisy["status"] == "ok" and -1.0 <= noisy["ci"][0] <= noisy["value"] < 1.0
