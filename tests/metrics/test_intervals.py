"""Bootstrap intervals: closed forms, the metric's domain, the reported bias, paired replicates."""
from __future__ import annotations

import importlib
import math
import zlib

import numpy as np
import pytest
from scipy.special import ndtri

from bench.evaluate import _ci
from metrics import METRICS
from metrics.base import Features, Metric, MetricInfo, MetricInputError
from metrics.ccds import mean_pairwise_cosine_distance
from metrics.frechet import FrechetDistance
from metrics.intervals import bootstrap_interval, check_bootstrap_size, recentred_percentile
from metrics.kl import kl_divergence


def normal_replicates(centre: float, sd: float, b: int) -> np.ndarray:
    """B replicates at the exact normal quantiles (i + 1/2)/B: a bootstrap law with no noise."""
    return centre + sd * ndtri((np.arange(b) + 0.5) / b)


# -- closed forms --------------------------------------------------------------------------------
def test_normal_replicates_give_the_normal_theory_interval_and_the_bias_apart():
    # replicates N(θ̂ + 5σ, σ²): the interval is θ̂ ± z σ, the +5σ shift is reported as the bias
    theta, sd = 2.0, 0.3
    out = bootstrap_interval(theta, normal_replicates(theta + 5 * sd, sd, 200_001), level=0.9)
    z = ndtri(0.95)
    assert out["ci"] == pytest.approx([theta - z * sd, theta + z * sd], rel=1e-5)
    assert out["bootstrap_bias"] == pytest.approx(5 * sd, rel=1e-9)
    assert out["ci_level"] == 0.9 and not out["ci_clipped"] and "B=200001" in out["ci_method"]


def test_bootstrap_of_a_gaussian_mean_matches_the_normal_theory_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=400)
    reps = np.array([x[rng.integers(0, x.size, x.size)].mean() for _ in range(4000)])
    half = ndtri(0.975) * x.std() / math.sqrt(x.size)  # plug-in sd of the mean, as the bootstrap's
    lo, hi = bootstrap_interval(x.mean(), reps, 0.95)["ci"]
    assert lo == pytest.approx(x.mean() - half, abs=0.06 * half)
    assert hi == pytest.approx(x.mean() + half, abs=0.06 * half)


def test_replicates_centred_on_the_estimate_give_the_plain_percentile_interval():
    rng = np.random.default_rng(2)
    d = rng.gamma(2.0, size=500)
    reps = 7.0 + np.concatenate([d, -d, [0.0]])  # median exactly the estimate 7
    out = bootstrap_interval(7.0, reps, 0.8)
    assert out["ci"] == pytest.approx(list(np.quantile(reps, [0.1, 0.9])), rel=1e-12)
    assert out["bootstrap_bias"] == pytest.approx(0.0, abs=1e-12)


def test_skewed_replicates_keep_their_skew_around_the_estimate():
    reps = np.array([0.0, 1.0, 2.0, 3.0, 100.0])  # median 2, long upper tail
    lo, hi = recentred_percentile(10.0, reps, 0.5)  # quantiles 0.25 / 0.75: 1 and 3
    assert (lo, hi) == (9.0, 11.0)
    lo, hi = recentred_percentile(10.0, reps, 0.9)  # 0.05 / 0.95: 0.2 and 80.6
    assert lo == pytest.approx(8.2) and hi == pytest.approx(88.6)


def test_a_higher_level_gives_a_nested_wider_interval():
    reps = np.random.default_rng(3).lognormal(size=300)
    cis = [bootstrap_interval(1.0, reps, level)["ci"] for level in (0.5, 0.8, 0.95)]
    for (lo_a, hi_a), (lo_b, hi_b) in zip(cis, cis[1:]):
        assert lo_b < lo_a <= 1.0 <= hi_a < hi_b


# -- the metric's domain -------------------------------------------------------------------------
@pytest.mark.parametrize("estimate, p_true", [(1.0, 0.95), (0.0, 0.05)])
def test_a_proportion_at_the_edge_of_0_1_stays_in_0_1(estimate, p_true):
    rng = np.random.default_rng(4)
    reps = rng.binomial(30, p_true, size=1000) / 30  # median 0.93 or 0.07: recentring crosses 1 or 0
    out = bootstrap_interval(estimate, reps, 0.95, (0.0, 1.0))
    lo, hi = out["ci"]
    assert 0.0 <= lo <= estimate <= hi <= 1.0 and hi > lo
    assert out["ci_clipped"] and estimate in (lo, hi)
    unclipped = recentred_percentile(estimate, reps, 0.95)
    assert unclipped[0] < 0.0 or unclipped[1] > 1.0  # what the interval had to be kept from


def test_fd_of_a_set_against_itself_stays_non_negative_and_reports_the_bias():
    rng = np.random.default_rng(5)
    items = [Features(id=f"c{i}", embedding=rng.normal(size=(1, 6))) for i in range(40)]
    fd = FrechetDistance(level="clip")
    fd.update_items(items, items)
    value = fd.compute()["value"]
    reps = fd.bootstrap(items, items, 200, np.random.default_rng(6))
    out = bootstrap_interval(value, reps, 0.95, FrechetDistance.info.domain)
    assert value == pytest.approx(0.0, abs=1e-9) and reps.min() > value  # below every replicate
    assert out["ci"][0] == 0.0 < out["ci"][1] and out["ci_clipped"]
    assert out["bootstrap_bias"] == pytest.approx(reps.mean()) and out["bootstrap_bias"] > 0
    old = np.percentile(reps, [2.5, 97.5]) - out["bootstrap_bias"]  # the previous shifted interval
    assert old[0] < 0.0


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_an_estimate_outside_all_replicates_keeps_a_real_interval_around_it(side):
    reps = normal_replicates(0.0, 1.0, 1000)
    estimate = 10.0 * side  # every replicate on one side: Efron's BC would collapse here
    lo, hi = bootstrap_interval(estimate, reps, 0.95)["ci"]
    assert lo < estimate < hi
    assert hi - lo == pytest.approx(np.ptp(np.quantile(reps, [0.025, 0.975])), rel=1e-12)


def test_round_off_just_outside_the_domain_is_kept_inside_the_interval():
    x = np.tile([[0.3, -1.2, 2.5]], (4, 1))
    ccds = mean_pairwise_cosine_distance(x)  # 1 − cos of identical rows: 0 up to round-off
    assert abs(ccds) < 1e-12
    lo, hi = bootstrap_interval(ccds, [0.0, 0.01, 0.02], 0.9, (0.0, 2.0))["ci"]
    assert lo <= ccds <= hi


def test_an_estimate_far_outside_its_declared_domain_is_a_declaration_error():
    with pytest.raises(ValueError, match="outside the metric's declared domain"):
        bootstrap_interval(-0.01, [0.0, 0.1], 0.95, (0.0, math.inf))


# -- input errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.2, float("nan"), "high", None])
def test_level_must_lie_strictly_between_0_and_1(level):
    with pytest.raises(MetricInputError, match="CI level"):
        bootstrap_interval(0.0, [0.0, 1.0], level)


@pytest.mark.parametrize("replicates, words", [
    ([], "at least 2 replicates, got 0"), ([1.0], "at least 2 replicates, got 1"),
    ([1.0, float("nan"), 2.0], "1 of 3 bootstrap replicates are NaN"),
    ([[1.0, 2.0]], "1-d"),
])
def test_replicates_must_be_at_least_two_finite_values(replicates, words):
    with pytest.raises(MetricInputError, match=words):
        bootstrap_interval(0.0, replicates)


@pytest.mark.parametrize("n_boot", [-1, 1, 2.5, True])
def test_one_or_a_negative_bootstrap_size_is_an_input_error(n_boot):
    with pytest.raises(MetricInputError, match="bootstrap size"):
        check_bootstrap_size(n_boot)
    assert check_bootstrap_size(0) == 0 and check_bootstrap_size(np.int64(2)) == 2


@pytest.mark.parametrize("domain", [(1.0, 0.0), (0.0, 0.0), (float("nan"), 1.0), (0.0,)])
def test_a_malformed_domain_is_rejected(domain):
    with pytest.raises(ValueError, match="domain"):
        bootstrap_interval(0.5, [0.0, 1.0], 0.9, domain)


def test_metric_info_validates_domain_and_version():
    assert MetricInfo("m", True, "paired", ()).domain == (-math.inf, math.inf)
    assert MetricInfo("m", True, "paired", ()).version == 1
    with pytest.raises(ValueError, match="domain"):
        MetricInfo("m", True, "paired", (), domain=(1.0, 0.0))
    with pytest.raises(ValueError, match="version"):
        MetricInfo("m", True, "paired", (), version=0)


# -- declared domains ----------------------------------------------------------------------------
DOMAINS = {
    "fd": (0.0, math.inf), "fd_inf": (-math.inf, math.inf), "kad": (-math.inf, math.inf),
    "precision": (0.0, 1.0), "recall": (0.0, 1.0), "coverage": (0.0, 1.0),
    "density": (0.0, math.inf), "ccds": (0.0, 2.0), "clap": (-1.0, 1.0),
    "kl": (-math.inf, math.inf), "is": (1.0, math.inf), "lpaps": (0.0, math.inf),
    "lsd": (0.0, math.inf), "mel_distance": (0.0, math.inf), "si_sdr": (-math.inf, math.inf),
    "adherence": (0.0, 1.0), "emb_cos": (-1.0, 1.0),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_registered_metric_declares_its_domain(name):
    module, attr = METRICS[name].split(":")
    info = getattr(importlib.import_module(module), attr).info
    assert info.domain == DOMAINS[name] and info.version >= 1


def test_kl_with_sams_epsilon_goes_below_zero_so_its_domain_is_unbounded():
    p = np.full(527, 1 / 527)  # AudioSet's 527 classes, identical distributions
    assert kl_divergence(p, p)[0] == pytest.approx(-527e-6, rel=1e-3)


# -- the engine: seeding and paired replicates --------------------------------------------------
class ClipMean(Metric):
    """Mean over clips of the first embedding value (bootstrap unit: clips, ``Metric.resample``)."""

    info = MetricInfo("clip_mean", True, "reference-free", ("embedding",), domain=(0.0, 1.0))

    def reset(self) -> None:
        self.values: list[float] = []

    def update_items(self, gen, ref) -> None:
        self.values += [float(f.embedding[0, 0]) for f in gen]

    def compute(self) -> dict:
        return {"value": float(np.mean(self.values))}


def ci_of(values, n_boot=50, seed=3, name="clip_mean@x") -> dict:
    items = [Features(id=f"c{i}", embedding=np.array([[v]])) for i, v in enumerate(values)]
    metric = ClipMean()
    metric.update_items(items, [])
    return _ci(metric, metric.compute()["value"], items, [], n_boot, seed, 0.95, name)


def test_rows_of_equal_size_draw_the_same_clips_so_replicates_are_paired():
    a = np.random.default_rng(7).uniform(0.0, 0.8, size=12)
    row_a, row_b = ci_of(a), ci_of(a + 0.1)  # another row: every clip 0.1 better
    diff = np.subtract(row_b["replicates"], row_a["replicates"])
    assert len(diff) == 50 and diff == pytest.approx(np.full(50, 0.1), abs=1e-12)
    assert row_a["replicates"] != ci_of(a, name="other")["replicates"]  # the name mixes in
    rng = np.random.default_rng([3, zlib.crc32(b"clip_mean@x")])  # draw order: replicate b = b-th draw
    assert row_a["replicates"][:3] == pytest.approx([a[rng.integers(0, 12, 12)].mean() for _ in range(3)])


def test_engine_ci_reports_method_bias_and_refuses_a_single_replicate():
    out = ci_of(np.linspace(0.0, 1.0, 9))
    assert 0.0 <= out["ci"][0] <= 0.5 <= out["ci"][1] <= 1.0
    assert "clipped to the metric's domain, B=50, seed=3" in out["ci_method"]
    assert out["bootstrap_bias"] == pytest.approx(np.mean(out["replicates"]) - 0.5)
    assert ci_of([0.2, 0.4], n_boot=0) == {"ci": None, "ci_method": "disabled (--bootstrap 0)"}
    with pytest.raises(MetricInputError, match="at least 2 replicates"):
        ci_of([0.2, 0.4], n_boot=1)
