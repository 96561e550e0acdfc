"""Closed forms, reference vectors and accumulator contracts of the non-FD metrics."""
from __future__ import annotations

import importlib
from itertools import zip_longest

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.special import rel_entr

from metrics import METRICS
from metrics import prdc as prdc_module
from metrics.base import Features, Metric, MetricInputError
from metrics.ccds import ConditionalDiversity, mean_pairwise_cosine_distance
from metrics.clap_score import ClapScore
from metrics.inception_score import InceptionScore, inception_score
from metrics.kl import KLDivergence, clip_distribution, kl_divergence
from metrics.lpaps import lpaps
from metrics.lsd import log_spectral_distance, stft_magnitude
from metrics.mel_distance import mel_distance
from metrics.prdc import Coverage, Density, Precision, Recall, prdc, prdc_terms
from metrics.si_sdr import SiSdr, si_sdr

SAM_P = np.array([0.05, 0.1, 0.2, 0.05, 0.15, 0.25, 0.08, 0.12])
SAM_Q = np.array([0.3, 0.1, 0.2, 0.1, 0.1, 0.02, 0.08, 0.1])
SR = 16000


def metric_class(name: str) -> type[Metric]:
    module, attr = METRICS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def feat(i, prompt="dog", **kw) -> Features:
    return Features(id=f"c{i}", prompt=prompt, sample_rate=SR, **kw)


# -- KL ------------------------------------------------------------------------------------------
def test_kl_sam_vectors_match_rel_entr():
    assert kl_divergence(SAM_P, SAM_Q, eps=0.0)[0] == pytest.approx(0.58989, abs=5e-6)
    assert kl_divergence(SAM_P, SAM_Q)[0] == pytest.approx(0.58987, abs=5e-6)
    assert kl_divergence(SAM_P, SAM_Q, 0.0)[0] == pytest.approx(rel_entr(SAM_P, SAM_Q).sum(), 1e-12)
    assert kl_divergence(SAM_P, SAM_Q)[0] == pytest.approx(rel_entr(SAM_P, SAM_Q + 1e-6).sum())


def test_kl_zero_probability_terms_count_zero():
    assert kl_divergence([1.0, 0.0], [0.5, 0.5], eps=0.0)[0] == pytest.approx(np.log(2))
    assert kl_divergence(SAM_P, SAM_P, eps=0.0)[0] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("direction, expected", [
    ("gen_ref", rel_entr(SAM_P, SAM_Q + 1e-6).sum()),  # SAM / ARC: KL(P_gen ‖ P_ref)
    ("ref_gen", rel_entr(SAM_Q, SAM_P + 1e-6).sum()),  # audioldm_eval / av-benchmark
])
def test_kl_directions(direction, expected):
    m = KLDivergence(direction=direction)
    m.update_items([feat(0, logits=np.log(SAM_P))], [feat(0, logits=np.log(SAM_Q))])
    assert m.compute()["value"] == pytest.approx(expected, rel=1e-9)
    assert m.per_item() == {"c0": pytest.approx(expected, rel=1e-9)}


def test_kl_aggregation_modes():
    frames = np.log(SAM_P) + np.array([[0.0], [3.0], [-2.0]])  # softmax-invariant shifts
    np.testing.assert_allclose(clip_distribution(frames), SAM_P, rtol=1e-12)
    two = np.log(np.stack([SAM_P, SAM_Q]))
    np.testing.assert_allclose(clip_distribution(two, "softmax_mean"), (SAM_P + SAM_Q) / 2)
    sig = clip_distribution(np.array([[0.0, np.log(3.0)]]), "sigmoid_mean")  # σ = 0.5, 0.75
    np.testing.assert_allclose(sig, [0.4, 0.6])
    with pytest.raises(MetricInputError, match="aggregate"):
        clip_distribution(two, "max")


def test_kl_prompt_pairing_uses_mean_reference():
    r1, r2 = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.2, 0.7])
    m = KLDivergence(pair="prompt")
    refs = [Features("a", "dog", logits=np.log(r1)), Features("b", "dog", logits=np.log(r2))]
    m.update_items([Features("g", "dog", logits=np.log([0.5, 0.3, 0.2]))], refs)
    expected = rel_entr([0.5, 0.3, 0.2], (r1 + r2) / 2 + 1e-6).sum()
    assert m.compute()["value"] == pytest.approx(expected, rel=1e-9)


def test_kl_unpaired_inputs_raise():
    m = KLDivergence()
    m.update_items([feat(0, logits=np.zeros(3)), feat(7, logits=np.zeros(3))],
                   [feat(0, logits=np.zeros(3))])
    with pytest.raises(MetricInputError, match=r"c7.*pair=prompt"):
        m.compute()
    m = KLDivergence(pair="prompt")
    m.update_items([feat(0, "cat", logits=np.zeros(3))], [feat(0, "dog", logits=np.zeros(3))])
    with pytest.raises(MetricInputError, match="cat"):
        m.compute()
    with pytest.raises(MetricInputError, match="no logits"):
        KLDivergence().update_items([feat(0)], [])


def test_kl_resample_keeps_reference_whole():
    gen, ref = [feat(i, logits=np.zeros(3)) for i in range(5)], [feat(9, logits=np.zeros(3))]
    g, r = KLDivergence().resample(gen, ref, np.random.default_rng(0))
    assert r == ref and len(g) == 5 and all(x in gen for x in g)


# -- IS ------------------------------------------------------------------------------------------
def test_inception_score_closed_forms():
    one_hot = np.repeat(np.eye(4), 5, axis=0)  # 4 classes, evenly used
    assert inception_score(one_hot, splits=1) == pytest.approx((4.0, 0.0))
    assert inception_score(np.tile(SAM_P, (20, 1)), splits=10) == pytest.approx((1.0, 0.0))
    assert inception_score(np.full((20, 8), 1 / 8), splits=10) == pytest.approx((1.0, 0.0))


def test_inception_score_matches_audioldm_eval_code():
    torch = pytest.importorskip("torch")
    logits = np.random.default_rng(1).normal(size=(37, 11)) * 3
    feats = torch.from_numpy(logits)[np.random.RandomState(2020).permutation(37)].double()
    p, log_p = feats.softmax(1), feats.log_softmax(1)  # audioldm_eval metrics/isc.py
    scores = []
    for i in range(10):
        pc, lc = p[i * 37 // 10:(i + 1) * 37 // 10], log_p[i * 37 // 10:(i + 1) * 37 // 10]
        scores.append((pc * (lc - pc.mean(0, keepdim=True).log())).sum(1).mean().exp().item())
    m = InceptionScore()
    m.update_items([feat(i, logits=row) for i, row in enumerate(logits)], [])
    out = m.compute()
    assert out["value"] == pytest.approx(np.mean(scores), rel=1e-12)
    assert out["std"] == pytest.approx(np.std(scores), rel=1e-9)


def test_inception_score_too_few_items():
    with pytest.raises(MetricInputError, match="splits"):
        inception_score(np.eye(5), splits=10)


# -- PRDC ----------------------------------------------------------------------------------------
HAND_REAL = np.array([[0.0], [1.0], [3.0], [10.0], [50.0]])  # k=1 radii 1, 1, 2, 7, 40
HAND_FAKE = np.array([[0.5], [9.0], [20.0], [21.0]])  # k=1 radii 8.5, 8.5, 1, 1


def test_prdc_hand_computed():
    out = prdc(HAND_REAL, HAND_FAKE, k=1)
    assert out == pytest.approx({"precision": 1.0, "recall": 0.8, "density": 1.25, "coverage": 0.8})


def clovaai_prdc(real, fake, k):
    """generative-evaluation-prdc ``compute_prdc`` with scipy distances."""
    r_real = np.sort(cdist(real, real), axis=1)[:, k]
    r_fake = np.sort(cdist(fake, fake), axis=1)[:, k]
    d = cdist(real, fake)
    return {"precision": (d < r_real[:, None]).any(axis=0).mean(),
            "recall": (d < r_fake[None, :]).any(axis=1).mean(),
            "density": (d < r_real[:, None]).sum(axis=0).mean() / k,
            "coverage": (d.min(axis=1) < r_real).mean()}


def test_prdc_matches_reference_and_blocking(monkeypatch):
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(60, 5)), rng.normal(0.3, 1.2, size=(45, 5))
    expected = clovaai_prdc(real, fake, 5)
    assert prdc(real, fake, 5) == pytest.approx(expected)
    monkeypatch.setattr(prdc_module, "BLOCK_ELEMENTS", 64)  # forces many small row blocks
    assert prdc(real, fake, 5) == pytest.approx(expected)


def test_prdc_too_few_items_and_bootstrap_keeps_radii():
    with pytest.raises(MetricInputError, match="more than k"):
        prdc(HAND_REAL, HAND_FAKE, k=4)
    gen = [feat(i, embedding=row[None]) for i, row in enumerate(HAND_FAKE)]
    ref = [feat(10 + i, embedding=row[None]) for i, row in enumerate(HAND_REAL)]
    for cls, stat in ((Precision, "precision"), (Density, "density"), (Recall, "recall"),
                      (Coverage, "coverage")):
        terms = prdc_terms(HAND_REAL, HAND_FAKE, 1)[stat]
        got = cls(k=1).bootstrap(gen, ref, 20, np.random.default_rng(5))
        rng = np.random.default_rng(5)
        want = [terms[rng.integers(0, len(terms), len(terms))].mean() for _ in range(20)]
        np.testing.assert_allclose(got, want)


# -- SI-SDR --------------------------------------------------------------------------------------
def test_si_sdr_torchmetrics_example_and_closed_forms():
    assert si_sdr([2.5, 0.0, 2.0, 8.0], [3.0, -0.5, 2.0, 7.0]) == pytest.approx(18.4030, abs=1e-4)
    s, n = np.array([3.0, -1.0, 1.0, -3.0]), np.sqrt(0.05) * np.array([1.0, -1.0, -1.0, 1.0])
    assert si_sdr(s + n, s) == pytest.approx(20.0, abs=1e-9)  # ‖s‖² / ‖n‖² = 20 / 0.2
    assert si_sdr(-3.0 * (s + n), s) == pytest.approx(20.0, abs=1e-9)  # scale invariant
    assert si_sdr(s + n + 5.0, s, zero_mean=True) == pytest.approx(20.0, abs=1e-9)
    assert si_sdr(s + n + 5.0, s) == pytest.approx(10 * np.log10(20 / 100.2), abs=1e-9)


def test_si_sdr_accumulator_channels_and_lengths():
    s = np.random.default_rng(0).normal(size=(2, 4000))
    noise = np.random.default_rng(1).normal(size=(2, 4000)) * 0.1
    m = SiSdr()
    m.update_items([feat(0, audio=s + noise)], [feat(0, audio=s[:, :3990])])  # 10 samples: ok
    expected = si_sdr(s[:, :3990] + noise[:, :3990], s[:, :3990]).mean()
    assert m.compute()["value"] == pytest.approx(expected)
    with pytest.raises(MetricInputError, match="max_length_mismatch_s"):  # 0.1 s = 1600 samples
        SiSdr().update_items([feat(0, audio=s)], [feat(0, audio=s[:, :-1601])])
    assert SiSdr(max_length_mismatch_s=0.2).update_items([feat(0, audio=s)],
                                                        [feat(0, audio=s[:, :-1601])]) is None
    with pytest.raises(MetricInputError, match="channels"):
        SiSdr().update_items([feat(0, audio=s)], [feat(0, audio=s[:1])])


def test_paired_metric_unmatched_ids_raise():
    m = SiSdr()
    m.update_items([feat(0, audio=np.ones(100)), feat(1, audio=np.ones(100))],
                   [feat(0, audio=np.ones(100)), feat(2, audio=np.ones(100))])
    with pytest.raises(MetricInputError, match=r"\['c1'\].*\['c2'\]"):
        m.compute()
    with pytest.raises(MetricInputError, match="Hz"):
        SiSdr().update_items([feat(0, audio=np.ones(9))],
                             [Features("c0", audio=np.ones(9), sample_rate=8000)])


# -- LSD / mel distance --------------------------------------------------------------------------
def test_stft_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(0).normal(size=5000)
    ref = librosa.stft(x, n_fft=512, hop_length=128, pad_mode="reflect")  # torch.stft's default
    np.testing.assert_allclose(stft_magnitude(x, 512, 128), np.abs(ref).T, atol=1e-9)


def test_lsd_closed_forms():
    x = np.random.default_rng(0).normal(size=8000)
    assert log_spectral_distance(x, x) == 0.0
    assert log_spectral_distance(3.0 * x, x, eps=0.0) == pytest.approx(2 * np.log10(3.0), rel=1e-9)
    assert log_spectral_distance(0.5 * x, x) == pytest.approx(2 * np.log10(2.0), rel=1e-6)


def test_mel_distance_closed_forms():
    x = np.random.default_rng(0).normal(size=(1, 8000))
    assert mel_distance(x, x, SR) == 0.0
    one = mel_distance(2.0 * x, x, SR, windows=(256,), n_mels=(40,))
    assert one == pytest.approx(np.log10(2.0), rel=1e-9)  # every mel value above the 1e-5 clamp
    mean = mel_distance(2.0 * x, x, SR)
    assert 0.0 < mean <= np.log10(2.0) + 1e-12
    assert mel_distance(2.0 * x, x, SR, reduction="sum") == pytest.approx(7 * mean)


# -- LPAPS ---------------------------------------------------------------------------------------
def test_lpaps_hand_computed():
    a = np.array([[3.0, 1.0], [4.0, 0.0]])  # channel norms over tokens: 5, 1
    b = np.array([[4.0, 0.0], [3.0, 2.0]])  # channel norms: 5, 2
    assert lpaps([a], [b]) == pytest.approx((0.08 + 2.0) / 2)  # mean over channels
    assert lpaps([a, a], [b, b]) == pytest.approx(2.08)  # summed over layers
    assert lpaps([5.0 * a], [b]) == pytest.approx(lpaps([a], [b]))  # per-channel scale invariant
    rng = np.random.default_rng(0)
    la, lb = [rng.normal(size=(6, 4)), rng.normal(size=(3, 8))], [rng.normal(size=(6, 4)),
                                                                rng.normal(size=(3, 8))]
    assert lpaps(la, la) == 0.0 and lpaps(la, lb) > 0.0
    assert lpaps(la, lb) == pytest.approx(lpaps(lb, la))
    with pytest.raises(MetricInputError, match="layers"):
        lpaps(la, lb[:1])


# -- CCDS / CLAP ---------------------------------------------------------------------------------
def test_ccds_hand_computed_and_per_prompt():
    dog = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    gen = [feat(i, "dog", embedding=np.array([e, e])) for i, e in enumerate(dog)]
    gen += [feat(5, "cat", embedding=np.array([[1.0, 0.0]])),
            feat(6, "cat", embedding=np.array([[-2.0, 0.0]]))]
    m = ConditionalDiversity()
    m.update_items(gen, [])
    dog_value = (1.0 + 2.0 * (1.0 - 1.0 / np.sqrt(2.0))) / 3.0
    assert m.per_item() == pytest.approx({"dog": dog_value, "cat": 2.0})
    assert m.compute()["value"] == pytest.approx((dog_value + 2.0) / 2.0)
    assert mean_pairwise_cosine_distance(np.array(dog)) == pytest.approx(dog_value)


def test_ccds_singleton_prompt_raises():
    m = ConditionalDiversity()
    m.update_items([feat(0, "dog", embedding=np.ones((1, 2))),
                    feat(1, "dog", embedding=np.ones((1, 2))),
                    feat(2, "bird", embedding=np.ones((1, 2)))], [])
    with pytest.raises(MetricInputError, match=r"'bird' \(1\).*>= 2"):
        m.compute()


def test_ccds_bootstrap_over_prompts_equals_resample_recompute():
    rng = np.random.default_rng(0)
    gen = [feat(i, f"p{i % 4}", embedding=rng.normal(size=(2, 3))) for i in range(12)]
    fast = ConditionalDiversity().bootstrap(gen, [], 15, np.random.default_rng(7))
    slow = Metric.bootstrap(ConditionalDiversity(), gen, [], 15, np.random.default_rng(7))
    np.testing.assert_allclose(fast, slow)


def test_clap_score_cosines_and_missing_text():
    gen = [feat(0, embedding=np.array([[1.0, 0.0]]), text=np.array([1.0, 0.0])),
           feat(1, embedding=np.array([[1.0, 1.0]]), text=np.array([2.0, 0.0])),
           feat(2, embedding=np.array([[1.0, 0.0], [1.0, 0.0]]), text=np.array([-1.0, 0.0]))]
    m = ClapScore()
    m.update_items(gen, [])
    assert m.per_item() == pytest.approx({"c0": 1.0, "c1": 1 / np.sqrt(2), "c2": -1.0})
    assert m.compute()["value"] == pytest.approx(1 / (3 * np.sqrt(2)))
    with pytest.raises(MetricInputError, match="no text tower"):
        ClapScore().update_items([feat(0, embedding=np.ones((1, 2)))], [])


# -- accumulator contract for every metric -------------------------------------------------------
HIGHER_IS_BETTER = {"kl": False, "is": True, "precision": True, "recall": True, "density": True,
                    "coverage": True, "si_sdr": True, "lsd": False, "mel_distance": False,
                    "lpaps": False, "ccds": True, "clap": True}


def make_items(n: int = 12, seed: int = 0) -> tuple[list[Features], list[Features]]:
    """Generated/reference clips with every field, same ids on both sides, 3 clips per prompt."""
    rng = np.random.default_rng(seed)

    def clip(i, scale):
        audio = rng.normal(size=(2, 1200)) * scale
        return Features(id=f"c{i}", prompt=f"prompt {i % 4}", sample_rate=SR,
                        embedding=rng.normal(size=(3, 8)), logits=rng.normal(size=(2, 10)) * 2,
                        audio=audio, layers=[rng.normal(size=(6, 4)), rng.normal(size=(3, 5))],
                        text=rng.normal(size=8))
    return [clip(i, 1.0) for i in range(n)], [clip(i, 0.5) for i in range(n)]


def feed(metric: Metric, gen, ref, batch: int) -> dict:
    chunks = lambda xs: [xs[i:i + batch] for i in range(0, len(xs), batch)]  # noqa: E731
    for g, r in zip_longest(chunks(gen), chunks(ref[::-1]), fillvalue=[]):
        metric.update_items(g, r)
    return metric.compute()


@pytest.mark.parametrize("name", sorted(HIGHER_IS_BETTER))
def test_accumulator_contract(name):
    cls = metric_class(name)
    assert cls.info.name == name and cls().higher_is_better is HIGHER_IS_BETTER[name]
    gen, ref = make_items()
    one_shot = feed(cls(), gen, ref, len(gen))
    assert np.isfinite(one_shot["value"]) and ("n" in one_shot or "n_gen" in one_shot)
    for batch in (1, 5):
        assert feed(cls(), gen, ref, batch)["value"] == pytest.approx(one_shot["value"], rel=1e-12)
    m = cls()
    feed(m, *make_items(seed=1), 4)
    m.reset()
    assert feed(m, gen, ref, 3)["value"] == pytest.approx(one_shot["value"], rel=1e-12)
    with pytest.raises(MetricInputError, match="unknown option"):
        cls(bogus=1)


@pytest.mark.parametrize("name", ["kl", "si_sdr", "lsd", "mel_distance", "lpaps", "clap"])
def test_per_item_metrics_key_by_id_and_average_to_value(name):
    gen, ref = make_items()
    m = metric_class(name)()
    m.update_items(gen, ref)
    values = m.per_item()
    assert sorted(values) == sorted(f.id for f in gen)
    assert np.mean(list(values.values())) == pytest.approx(m.compute()["value"])


@pytest.mark.parametrize("name", ["si_sdr", "lsd", "lpaps"])
def test_paired_bootstrap_equals_resample_recompute(name):
    gen, ref = make_items(8)
    cls = metric_class(name)
    fast = cls().bootstrap(gen, ref[::-1], 10, np.random.default_rng(3))
    slow = Metric.bootstrap(cls(), gen, ref[::-1], 10, np.random.default_rng(3))
    np.testing.assert_allclose(fast, slow)
