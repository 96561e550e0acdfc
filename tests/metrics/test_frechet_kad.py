"""FD, FD∞ and KAD: closed forms, reference formulations, streaming == one-shot, bootstrap."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import pdist

from metrics.base import Features, MetricInputError
from metrics.fd_inf import fd_infinity
from metrics.frechet import (
    CovFactor,
    FrechetDistance,
    cholesky_factor,
    factorize,
    frechet_distance,
    gaussian_stats,
    psd_sqrt,
    trace_sqrt_product,
)
from metrics.kad import KernelAudioDistance, median_pairwise_distance, mmd2_unbiased


def random_psd(d: int, rng, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or 2 * d))
    return a @ a.T / a.shape[1]


def sqrtm_fd(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fd_diagonal_gaussians_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(5.0 + 1 + 1 + 4)


def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    mu, cov = gaussian_stats(x)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("d", [1, 8, 64, 256])
def test_fd_matches_sqrtm_formulation_to_1e9(d):
    rng = np.random.default_rng(d)
    s1, s2 = random_psd(d, rng), random_psd(d, rng)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(sqrtm_fd(mu1, s1, mu2, s2), rel=1e-9)
    trace = trace_sqrt_product(s1, s2)
    assert (trace.method, trace.factored) == ("cholesky", 1)
    assert trace.value == pytest.approx(np.trace(scipy.linalg.sqrtm(s1 @ s2).real), rel=1e-9)


def old_eigen_trace(s1, s2) -> float:
    """The previous path, written out: Tr sqrt(S1^1/2 S2 S1^1/2) by two symmetric eigensolves."""
    root = psd_sqrt(s1)
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum())


def low_rank_case(d: int, rank1: int, rank2: int | None, seed: int):
    """(S1 = A Aᵀ of rank ``rank1``, S2 = B Bᵀ (full rank if ``rank2`` is None), exact
    Tr sqrt(S1 S2), attainable accuracy).

    Exact: the nonzero eigenvalues of A Aᵀ B Bᵀ are those of (Aᵀ B)(Aᵀ B)ᵀ, so the trace is the
    sum of Aᵀ B's singular values. Attainable: S1 is stored rounded, so its d − rank1 zero
    eigenvalues become ~±eps·|S1|, and each adds up to sqrt(eps·|S1|·|S2|) to any trace of a
    square root computed from the stored matrices.
    """
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, rank1)) / np.sqrt(rank1)
    b = rng.normal(size=(d, rank2 or 2 * d)) / np.sqrt(rank2 or 2 * d)
    s1, s2 = a @ a.T, b @ b.T
    exact = float(np.linalg.svd(a.T @ b, compute_uv=False).sum())
    eps = np.finfo(np.float64).eps
    attainable = (d - rank1) * np.sqrt(eps * np.linalg.norm(s1, 2) * np.linalg.norm(s2, 2))
    return s1, s2, exact, attainable


def test_trace_factorises_the_other_covariance_when_one_is_singular():
    s1, s2, exact, attainable = low_rank_case(40, 10, None, seed=11)
    trace = trace_sqrt_product(s1, s2)
    assert (trace.method, trace.factored) == ("cholesky", 2)
    assert trace.value == pytest.approx(exact, abs=attainable)
    assert old_eigen_trace(s1, s2) == pytest.approx(exact, abs=attainable)
    assert trace_sqrt_product(s2, s1).factored == 1


def test_trace_falls_back_to_eigen_when_neither_covariance_is_positive_definite():
    s1, s2, exact, attainable = low_rank_case(40, 10, 25, seed=12)
    assert cholesky_factor(s1) is None and cholesky_factor(s2) is None
    trace = trace_sqrt_product(s1, s2)
    assert (trace.method, trace.factored) == ("eigen", 1)
    assert trace.value == pytest.approx(exact, abs=attainable)
    assert old_eigen_trace(s1, s2) == pytest.approx(exact, abs=attainable)


def test_round_off_pivot_counts_as_not_positive_definite():
    """LAPACK accepts a pivot of 1e-20 (positive); at d·eps of the scale it is round-off."""
    almost = np.diag([1.0, 1e-20])
    assert scipy.linalg.cholesky(almost, lower=True)[1, 1] > 0
    assert cholesky_factor(almost) is None
    assert factorize(almost).method == "eigen"
    assert cholesky_factor(np.diag([1.0, 1e-6])).method == "cholesky"


def test_precomputed_factor_gives_the_same_trace():
    rng = np.random.default_rng(13)
    s1, s2 = random_psd(30, rng), random_psd(30, rng)
    direct = trace_sqrt_product(s1, s2).value
    for factor in (factorize(s1), CovFactor(psd_sqrt(s1), "eigen")):
        assert trace_sqrt_product(s1, s2, factor).value == pytest.approx(direct, rel=1e-10)


def test_fd_rejects_non_finite_or_mismatched_covariances():
    mu, cov = np.zeros(3), np.eye(3)
    with pytest.raises(MetricInputError, match="NaN or Inf"):
        frechet_distance(mu, np.full((3, 3), np.nan), mu, cov)
    with pytest.raises(MetricInputError, match="dimension mismatch"):
        frechet_distance(mu, np.eye(2), mu, np.eye(2))


def test_fd_details_record_the_trace_path():
    rng = np.random.default_rng(14)
    cases = {"cholesky(gen)": (200, 300), "cholesky(ref)": (10, 300), "eigen(gen)": (10, 12)}
    for expected, (n_gen, n_ref) in cases.items():
        metric = FrechetDistance()
        metric.update(gen=rng.normal(size=(n_gen, 32)), ref=rng.normal(size=(n_ref, 32)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n <= d: tested elsewhere
            assert metric.compute()["trace_method"] == expected


def test_fd_rank_deficient_is_finite_and_warns():
    rng = np.random.default_rng(1)
    metric = FrechetDistance()
    metric.update(gen=rng.normal(size=(5, 32)), ref=rng.normal(size=(6, 32)))
    with pytest.warns(UserWarning, match="rank-deficient"):
        out = metric.compute()
    assert np.isfinite(out["value"]) and out["value"] >= 0 and out["dim"] == 32


def test_fd_streaming_equals_one_shot_for_any_batch_size():
    rng = np.random.default_rng(2)
    gen, ref = rng.normal(3.0, 1.0, size=(300, 6)), rng.normal(size=(200, 6))
    one = FrechetDistance()
    one.update(gen=gen, ref=ref)
    for batch in (1, 7, 64):
        streamed = FrechetDistance()
        for i in range(0, 300, batch):
            streamed.update(gen=gen[i:i + batch], ref=ref[i:i + batch])
        assert streamed.compute()["value"] == pytest.approx(one.compute()["value"], rel=1e-10)
    mu, cov = gaussian_stats(gen)
    assert np.allclose(one.gen.stats()[1], cov) and np.allclose(one.gen.stats()[0], mu)


def test_fd_levels_frame_and_clip():
    rng = np.random.default_rng(3)
    items = [Features(str(i), embedding=rng.normal(size=(4, 3))) for i in range(10)]
    frame, clip = FrechetDistance(level="frame"), FrechetDistance(level="clip")
    frame.update_items(items, items)
    clip.update_items(items, items)
    assert frame.compute()["n_gen"] == 40 and clip.compute()["n_gen"] == 10


def test_fd_needs_two_rows():
    metric = FrechetDistance()
    metric.update(gen=np.zeros((1, 3)), ref=np.zeros((5, 3)))
    with pytest.raises(MetricInputError, match="at least 2 rows"):
        metric.compute()


def test_fd_inf_recovers_bias_free_value():
    rng = np.random.default_rng(4)
    ref, gen = rng.normal(size=(20000, 4)), rng.normal(0.5, 1.0, size=(4000, 4))
    mu, cov = gaussian_stats(ref)
    out = fd_infinity(gen, mu, cov, steps=10, min_n=200, seed=0)
    assert out["value"] == pytest.approx(4 * 0.25, abs=0.05)  # true FD: |Δμ|² = 4 × 0.5²
    assert out["slope"] > 0 and len(out["points"]) == 10
    assert out["trace_method"] == "cholesky(ref)"  # the reference factor, computed once


def test_fd_inf_points_equal_fresh_fds_with_an_eigen_reference():
    """A rank-deficient reference takes the eigen path once; each point is still the plain FD."""
    rng = np.random.default_rng(15)
    ref, gen = rng.normal(size=(6, 8)), rng.normal(0.2, 1.0, size=(400, 8))
    mu, cov = gaussian_stats(ref)
    out = fd_infinity(gen, mu, cov, steps=4, min_n=100, seed=3)
    assert out["trace_method"] == "eigen(ref)"
    draw = np.random.default_rng(3)
    for n, fd in out["points"]:
        mu_g, cov_g = gaussian_stats(gen[draw.integers(0, 400, size=n)])
        fresh = frechet_distance(mu_g, cov_g, mu, cov)  # factorises gen's covariance instead
        assert fd == pytest.approx(fresh, abs=1e-6)  # within rank-deficiency round-off (see above)
        assert fd == pytest.approx(frechet_distance(mu, cov, mu_g, cov_g, factorize(cov)), rel=1e-12)


def naive_mmd2(x, y, sigma):
    g = 1.0 / (2 * sigma**2 + 1e-8)
    k = lambda a, b: np.exp(-g * ((a[:, None] - b[None]) ** 2).sum(-1))  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * k(x, y).mean())


@pytest.mark.parametrize("block", [7, 64, 4096])
def test_mmd2_matches_naive_in_any_block_size(block):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(90, 5)), rng.normal(0.3, 1.2, size=(70, 5))
    assert mmd2_unbiased(x, y, 2.0, block) == pytest.approx(naive_mmd2(x, y, 2.0), rel=1e-10)


@pytest.mark.parametrize("n", [2, 3, 50, 201])
def test_median_pairwise_distance_is_exact_lower_median(n):
    x = np.random.default_rng(n).normal(size=(n, 6))
    d = np.sort(pdist(x))
    assert median_pairwise_distance(x, block=16) == pytest.approx(d[(len(d) - 1) // 2], rel=1e-12)


def kad_items(seed: int, shift: float, n: int):
    rng = np.random.default_rng(seed)
    return [Features(str(i), embedding=rng.normal(shift, 1, size=(3, 4))) for i in range(n)]


def test_kad_bandwidth_modes_and_scale():
    gen, ref = kad_items(0, 0.4, 30), kad_items(1, 0.0, 40)
    by_ref, by_eval = KernelAudioDistance(), KernelAudioDistance(bandwidth="eval")
    for m in (by_ref, by_eval):
        m.update_items(gen, ref)
    out_ref, out_eval = by_ref.compute(), by_eval.compute()
    x = np.concatenate([f.embedding for f in ref])
    y = np.concatenate([f.embedding for f in gen])
    assert out_ref["sigma"] == pytest.approx(median_pairwise_distance(x))
    assert out_eval["sigma"] == pytest.approx(median_pairwise_distance(y))
    assert out_ref["value"] == pytest.approx(100 * naive_mmd2(x, y, out_ref["sigma"]), rel=1e-9)


def test_kad_streaming_equals_one_shot():
    gen, ref = kad_items(2, 0.2, 20), kad_items(3, 0.0, 20)
    one, streamed = KernelAudioDistance(), KernelAudioDistance()
    one.update_items(gen, ref)
    for i in range(0, 20, 3):
        streamed.update_items(gen[i:i + 3], ref[i:i + 3])
    assert streamed.compute()["value"] == pytest.approx(one.compute()["value"], rel=1e-12)


def test_kad_weighted_bootstrap_equals_explicit_resampling():
    gen, ref = kad_items(4, 0.3, 25), kad_items(5, 0.0, 30)
    metric = KernelAudioDistance()
    metric.update_items(gen, ref)
    sigma = metric.compute()["sigma"]
    fast = metric.bootstrap(gen, ref, 4, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    counts_ref = rng.multinomial(30, np.full(30, 1 / 30), size=4)
    counts_gen = rng.multinomial(25, np.full(25, 1 / 25), size=4)
    for b in range(4):
        g = [f for f, c in zip(gen, counts_gen[b]) for _ in range(c)]
        r = [f for f, c in zip(ref, counts_ref[b]) for _ in range(c)]
        explicit = KernelAudioDistance(sigma=sigma)
        explicit.update_items(g, r)
        assert fast[b] == pytest.approx(explicit.compute()["value"], rel=1e-9)


def test_kad_identical_points_give_clear_error():
    same = [Features(str(i), embedding=np.ones((1, 3))) for i in range(5)]
    metric = KernelAudioDistance()
    metric.update_items(same, same)
    with pytest.raises(MetricInputError, match="bandwidth"):
        metric.compute()


def test_kl_unpaired_exclude_lists_what_it_left_out():
    from metrics.kl import KLDivergence

    def item(i, prompt, hot):
        logits = np.full((2, 4), -3.0)
        logits[:, hot] = 3.0
        return Features(str(i), prompt=prompt, logits=logits)

    gen = [item("g1", "dog", 0), item("g2", "cat", 1), item("g3", "dog", 2)]
    ref = [item("r1", "dog", 0), item("r2", "dog", 0)]
    strict = KLDivergence(pair="prompt")
    strict.update_items(gen, ref)
    with pytest.raises(MetricInputError, match="unpaired=exclude"):
        strict.compute()
    lenient = KLDivergence(pair="prompt", unpaired="exclude")
    lenient.update_items(gen, ref)
    out = lenient.compute()
    assert out["excluded_unpaired"] == ["g2"] and out["n_gen"] == 2
    assert set(lenient.per_item()) == {"g1", "g3"} and lenient.per_item()["g1"] == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize("n1,n2,d", [(5, 7, 16), (40, 30, 8), (12, 12, 12)])
def test_gram_form_equals_the_covariance_form(n1, n2, d):
    """FD from rows via the nuclear norm of A Bᵀ equals FD of the fitted Gaussians, n <= d or not."""
    from metrics.frechet import frechet_distance_from_rows, gaussian_stats

    rng = np.random.default_rng(n1 + n2 + d)
    x, y = rng.normal(size=(n1, d)), rng.normal(1.0, 2.0, size=(n2, d))
    expected = frechet_distance(*gaussian_stats(x), *gaussian_stats(y))
    # full rank: both forms agree to 1e-9; rank-deficient (n <= d): the covariance form takes the
    # square roots of round-off eigenvalues (~1e-16 -> 1e-8 each), the Gram form has none of them
    rel = 1e-9 if min(n1, n2) > d else 1e-6
    assert frechet_distance_from_rows(x, y) == pytest.approx(expected, rel=rel)


def test_fd_bootstrap_replicates_equal_explicit_resampling():
    """The Gram-form bootstrap draws the same clips as Metric.resample and gives the same values."""
    from metrics.base import Features
    from metrics.frechet import FrechetDistance

    rng = np.random.default_rng(0)
    gen = [Features(f"g{i}", embedding=rng.normal(size=(3, 24))) for i in range(6)]
    ref = [Features(f"r{i}", embedding=rng.normal(0.5, 1.0, size=(3, 24))) for i in range(7)]
    metric = FrechetDistance()
    fast = metric.bootstrap(gen, ref, 5, np.random.default_rng(1))
    slow_rng = np.random.default_rng(1)
    slow = [super(FrechetDistance, metric)._replicate(gen, ref, slow_rng) for _ in range(5)]
    assert np.allclose(fast, slow, rtol=1e-6)  # n = 18 <= d = 24: see the Gram-form test
