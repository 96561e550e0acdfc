"""Samplers over an EDM denoiser: closed forms on Gaussian data, NFE, CFG, grids, bad inputs.

Gaussian data x0 ~ N(μ, s²) has the exact denoiser D(x, σ) = μ + s²/(s²+σ²)(x − μ) and the exact
probability-flow ODE map from σ = t to σ = u: x_u = μ + √((s²+u²)/(s²+t²))(x_t − μ). Every sampler
step is then affine in x, so the expected output statistics follow from a scalar recursion.
"""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.registry import UnknownNameError
from systems.samplers import SAMPLERS, get_sampler, sampler_names
from systems.samplers.base import Sampler
from systems.samplers.grids import karras, log_snr, make_grid, rf_time_to_sigma, sigma_to_rf_time
from systems.samplers.guidance import NFECounter, classifier_free

ROOT = Path(__file__).resolve().parents[2]
MU, S = 0.3, 0.5
STEPS = (1, 2, 4, 8, 16, 32)
ODE_SAMPLERS = ("euler", "heun", "ddim", "dpmpp_2m")


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Exact E[x0 | x] for x0 ~ N(MU, S²) (posterior mean)."""
    sigma = sigma.view(-1, *([1] * (x.ndim - 1)))
    return MU + S**2 / (S**2 + sigma**2) * (x - MU)


def ode_map(x: torch.Tensor, t: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Exact probability-flow ODE solution from σ = t to σ = u (a perfect trajectory model G)."""
    t, u = (v.view(-1, *([1] * (x.ndim - 1))) if torch.is_tensor(v) else v for v in (t, u))
    return MU + torch.sqrt((S**2 + u**2) / (S**2 + t**2)) * (x - MU)


def consistency_function(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Exact consistency model f(x, σ) = ODE map to σ = 0 (not the posterior mean)."""
    return ode_map(x, sigma, torch.zeros_like(sigma))


def start(sigmas: torch.Tensor, n: int = 4096, seed: int = 0) -> torch.Tensor:
    """x = σ_max·ε, float64 [n, 1] (the caller scales the noise)."""
    eps = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return sigmas[0] * eps


def relative_error(name: str, steps: int, grid=karras) -> float:
    """max |sample − exact| / max |exact − μ| over the batch (scale-free, per-sample comparison)."""
    sigmas = grid(steps)
    x = start(sigmas, n=64)
    exact = ode_map(x, sigmas[0], 0.0)
    out = get_sampler(name)(gaussian_denoiser, x, sigmas)
    return ((out - exact).abs().max() / (exact - MU).abs().max()).item()


def gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- registry


def test_every_sampler_file_is_registered_and_named_by_its_key():
    helpers = {"__init__", "base", "grids", "guidance"}
    files = {p.stem for p in (ROOT / "systems" / "samplers").glob("*.py")} - helpers
    assert files == {v.split(":")[0].split(".")[-1] for v in SAMPLERS.values()} == set(SAMPLERS)
    assert sampler_names() == sorted(SAMPLERS)
    for name in SAMPLERS:
        sampler = get_sampler(name)
        assert isinstance(sampler, Sampler) and sampler.name == name


def test_importing_the_sampler_registry_does_not_import_torch():
    code = "import sys, systems.samplers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_unknown_sampler_name_suggests_the_close_one():
    with pytest.raises(UnknownNameError, match=r"unknown sampler 'eular'.*Did you mean 'euler'"):
        get_sampler("eular")


# ---------------------------------------------------------------- closed forms (deterministic)


def test_ode_samplers_converge_to_the_exact_flow_with_their_order():
    errors = {name: [relative_error(name, n) for n in (*STEPS, 64, 128)] for name in ODE_SAMPLERS}
    for name, err in errors.items():
        tail = err[3:]  # N = 8 … 128: past the coarse-grid transient, monotone for every sampler
        assert all(a > b for a, b in zip(tail, tail[1:])), (name, err)
    for name in ("euler", "ddim"):  # first order: also monotone from N = 1, error halves
        assert all(a > b for a, b in zip(errors[name], errors[name][1:])), errors[name]
        assert errors[name][5] < 0.1 and 1.9 < errors[name][-2] / errors[name][-1] < 2.1
    for name in ("heun", "dpmpp_2m"):  # second order: error / 4 per doubling
        assert errors[name][5] < 0.02 and errors[name][-1] < 1e-3
        assert 3.6 < errors[name][-2] / errors[name][-1] < 4.6, errors[name]


def test_one_step_is_the_denoised_estimate_for_every_ode_sampler():
    sigmas = karras(1)
    x = start(sigmas)
    expected = gaussian_denoiser(x, sigmas[:1].expand(len(x)))
    for name in ODE_SAMPLERS:
        torch.testing.assert_close(get_sampler(name)(gaussian_denoiser, x, sigmas), expected)


def test_heun_beats_euler_once_the_grid_resolves_the_data_scale():
    # With σ_max = 80 the N = 2 grid is one step 80 → 0.002: Heun's corrector then overshoots
    # (error ≈ 79× the signal) and it still trails Euler at N = 8; from N = 16 on the 2nd-order
    # method wins at equal N, and also at about equal NFE (Heun N vs Euler 2N).
    for n in (16, 32, 64):
        assert relative_error("heun", n) < relative_error("euler", n) / 2
        assert relative_error("heun", n) < relative_error("euler", 2 * n)


def test_sample_mean_and_std_approach_the_data_distribution():
    sigmas = karras(128)
    x = start(sigmas, n=8192)
    for name in ODE_SAMPLERS:
        out = get_sampler(name)(gaussian_denoiser, x, sigmas)
        assert abs(out.mean().item() - MU) < 0.02, name
        assert abs(out.std().item() / S - 1) < 0.04, name


def test_ddim_equals_euler_in_sigma_space():
    def nonlinear(x, sigma):
        return torch.tanh(x / (1 + sigma.view(-1, 1))) * 0.7

    for sigmas in (karras(7), log_snr(5, 0.01, 10.0)):
        x = start(sigmas, n=256)
        for denoise in (gaussian_denoiser, nonlinear):
            euler = get_sampler("euler")(denoise, x, sigmas)
            ddim = get_sampler("ddim")(denoise, x, sigmas)
            assert (euler - ddim).abs().max().item() < 1e-6


def test_dpmpp_2m_first_two_steps_by_hand():
    sigmas = torch.tensor([4.0, 1.0, 0.25, 0.0], dtype=torch.float64)
    x = start(sigmas, n=8)
    d0 = gaussian_denoiser(x, sigmas[0].expand(8))
    x1 = d0 + 0.25 * (x - d0)  # first order: (σ1/σ0)x − expm1(−h)D with e^{−h} = σ1/σ0
    d1 = gaussian_denoiser(x1, sigmas[1].expand(8))
    h, h_prev = math.log(4.0), math.log(4.0)
    d_hat = (1 + h / (2 * h_prev)) * d1 - h / (2 * h_prev) * d0
    x2 = 0.25 * x1 + 0.75 * d_hat
    x3 = gaussian_denoiser(x2, sigmas[2].expand(8))  # last step to σ = 0 returns D
    torch.testing.assert_close(get_sampler("dpmpp_2m")(gaussian_denoiser, x, sigmas), x3)


# ---------------------------------------------------------------- stochastic samplers


def affine_stats(sigmas: torch.Tensor, gamma: float) -> tuple[float, float]:
    """Expected (mean, std) of γ-sampling with the DDIM jump on the Gaussian posterior mean.

    One step maps x − μ ↦ c·(x − μ) + γσ_{i+1}ε with c = (s² + σ_i s̃)/(s² + σ_i²), s̃ = √(1−γ²)σ_{i+1};
    γ = 1 is ping-pong. The start x = σ_max·ε has x − μ ~ N(−μ, σ_max²).
    """
    sig = sigmas.tolist()
    mean, var = -MU, sig[0] ** 2
    for a, b in zip(sig[:-1], sig[1:]):
        c = (S**2 + a * math.sqrt(1 - gamma**2) * b) / (S**2 + a**2)
        mean, var = c * mean, c * c * var + (gamma * b) ** 2
    return MU + mean, math.sqrt(var)


@pytest.mark.parametrize("name,options", [("pingpong", {}), ("ctm_gamma", {"gamma": 0.5})])
def test_stochastic_samplers_match_the_affine_gaussian_recursion(name, options):
    gamma = options.get("gamma", 1.0)
    stds = []
    for n in (1, 4, 16, 64):
        sigmas = karras(n)
        out = get_sampler(name)(gaussian_denoiser, start(sigmas, n=16384), sigmas, generator=gen(), **options)
        mean, std = affine_stats(sigmas, gamma)
        assert abs(out.mean().item() - mean) < 0.02 and abs(out.std().item() / std - 1) < 0.03, (n, std)
        stds.append(out.std().item())
    assert stds[0] < 0.01  # one step from σ_max = 80 collapses onto the posterior mean ≈ μ
    assert all(a < b for a, b in zip(stds, stds[1:])) and stds[-1] > 0.6 * S


def test_with_the_posterior_mean_the_many_step_std_stays_below_s():
    # A denoiser is not a consistency function: dense ping-pong tends to s/√2, γ = 0.5 to ≈ 0.965 s.
    assert affine_stats(karras(4096), 1.0)[1] == pytest.approx(S / math.sqrt(2), rel=0.01)
    assert affine_stats(karras(4096), 0.5)[1] == pytest.approx(0.965 * S, rel=0.01)
    assert affine_stats(karras(4096), 0.0)[1] == pytest.approx(S, rel=0.001)


@pytest.mark.parametrize("steps", [1, 3, 32])
def test_exact_trajectory_models_sample_the_data_at_any_step_count(steps):
    sigmas = karras(steps)
    x = start(sigmas, n=16384)
    outs = [get_sampler("pingpong")(consistency_function, x, sigmas, generator=gen())]
    for gamma in (0.3, 0.5, 1.0):
        outs.append(get_sampler("ctm_gamma")(gaussian_denoiser, x, sigmas, generator=gen(),
                                             gamma=gamma, jump=ode_map))
    for out in outs:
        assert abs(out.mean().item() - MU) < 0.02 and abs(out.std().item() / S - 1) < 0.03


def test_ctm_gamma_zero_is_ddim_and_one_is_pingpong():
    sigmas = karras(6)
    x = start(sigmas, n=512)
    ctm = get_sampler("ctm_gamma")
    torch.testing.assert_close(ctm(gaussian_denoiser, x, sigmas, gamma=0.0),
                               get_sampler("ddim")(gaussian_denoiser, x, sigmas), rtol=0, atol=1e-6)
    torch.testing.assert_close(ctm(gaussian_denoiser, x, sigmas, gamma=1.0, generator=gen(5)),
                               get_sampler("pingpong")(gaussian_denoiser, x, sigmas, generator=gen(5)))


def test_ctm_gamma_passes_per_sample_levels_to_the_jump():
    seen = []

    def jump(x, t, s):
        seen.append((t.shape, s.shape, t.dtype))
        return ode_map(x, t, s)

    sigmas = karras(3)
    get_sampler("ctm_gamma")(gaussian_denoiser, start(sigmas, n=5).float(), sigmas, jump=jump)
    assert seen == [(torch.Size([5]), torch.Size([5]), torch.float32)] * 3


def test_same_seed_same_samples_different_seed_different_samples():
    sigmas = karras(4)
    x = start(sigmas, n=64)
    for name, options in (("pingpong", {}), ("ctm_gamma", {"gamma": 0.7})):
        run = get_sampler(name)
        a = run(gaussian_denoiser, x, sigmas, generator=gen(3), **options)
        assert torch.equal(a, run(gaussian_denoiser, x, sigmas, generator=gen(3), **options))
        assert not torch.equal(a, run(gaussian_denoiser, x, sigmas, generator=gen(4), **options))


# ---------------------------------------------------------------- contract: dtype, purity, NFE


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_inputs_untouched_dtype_kept_per_sample_sigma(name):
    sigmas = karras(3)
    x = start(sigmas, n=6).float().reshape(3, 2)
    x_copy, sigmas_copy = x.clone(), sigmas.clone()
    seen = []

    def denoise(y, sigma):
        seen.append((sigma.shape, sigma.dtype))
        return gaussian_denoiser(y, sigma)

    out = get_sampler(name)(denoise, x, sigmas, generator=gen())
    assert out.dtype == torch.float32 and out.shape == x.shape and torch.isfinite(out).all()
    assert torch.equal(x, x_copy) and torch.equal(sigmas, sigmas_copy)
    assert set(seen) == {(torch.Size([3]), torch.float32)}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_counted_nfe_matches_the_declared_nfe(name):
    expected = {"euler": lambda n: n, "ddim": lambda n: n, "dpmpp_2m": lambda n: n,
                "heun": lambda n: 2 * n - 1, "pingpong": lambda n: n, "ctm_gamma": lambda n: n}[name]
    for steps in (1, 2, 5):
        counter = NFECounter()
        sigmas = karras(steps)
        get_sampler(name)(counter.wrap(gaussian_denoiser), start(sigmas, n=4), sigmas, generator=gen())
        assert counter.count == get_sampler(name).nfe(steps) == expected(steps)


# ---------------------------------------------------------------- classifier-free guidance


def toy_model(calls: list):
    """model(x, σ, cond) = x·(1 + mean(tokens)) + mean(mask); records (batch, L) of every call."""
    def model(x, sigma, cond):
        calls.append((x.shape[0], cond["tokens"].shape[1]))
        scale = 1 + cond["tokens"].mean(dim=(1, 2)).view(-1, 1)
        return x * scale + cond["mask"].mean(dim=1).view(-1, 1) + 0 * sigma.view(-1, 1)
    return model


def conds(batch: int, null_len: int):
    g = gen(9)
    cond = {"tokens": torch.randn(batch, 4, 3, generator=g, dtype=torch.float64),
            "mask": torch.ones(batch, 4, dtype=torch.float64)}
    null = {"tokens": torch.zeros(batch, null_len, 3, dtype=torch.float64),
            "mask": torch.zeros(batch, null_len, dtype=torch.float64)}
    return cond, null


@pytest.mark.parametrize("null_len,calls_per_eval", [(4, [(6, 4)]), (1, [(3, 4), (3, 1)])])
def test_cfg_combines_branches_batched_or_not(null_len, calls_per_eval):
    cond, null = conds(3, null_len)
    x, sigma = torch.randn(3, 2, generator=gen(2), dtype=torch.float64), torch.full((3,), 2.0)
    reference = toy_model([])
    d_c, d_null = reference(x, sigma, cond), reference(x, sigma, null)
    for w in (0.0, 1.0, 2.5):
        calls = []
        out = classifier_free(toy_model(calls), cond, null, w)(x, sigma)
        torch.testing.assert_close(out, d_null + w * (d_c - d_null))
        expected_calls = {0.0: [(3, null_len)], 1.0: [(3, 4)]}.get(w, calls_per_eval)
        assert calls == expected_calls


def test_cfg_doubles_the_nfe_and_guidance_one_skips_the_null_branch():
    steps, sigmas = 4, karras(4)
    cond, null = conds(2, 4)

    def model(x, sigma, c):
        calls.append(bool((c["tokens"] == 0).all(dim=(1, 2)).any()))  # a null row is present
        return gaussian_denoiser(x, sigma) + 0.01 * c["tokens"].mean(dim=(1, 2)).view(-1, 1)

    for w, per_eval in ((3.0, 2), (1.0, 1)):
        calls, counter = [], NFECounter()
        denoise = classifier_free(model, cond, null, w, counter=counter)
        get_sampler("heun")(denoise, start(sigmas, n=2), sigmas)
        assert counter.count == per_eval * (2 * steps - 1)
        assert not any(calls) if w == 1.0 else any(calls)


def test_negative_guidance_is_refused_with_the_convention():
    cond, null = conds(1, 4)
    with pytest.raises(ValueError, match=r"guidance must be a finite number >= 0 \(1 = no guidance"):
        classifier_free(toy_model([]), cond, null, -0.5)


# ---------------------------------------------------------------- grids


def test_karras_grid_endpoints_monotone_and_single_step():
    sigmas = karras(10)
    assert sigmas.dtype == torch.float64 and len(sigmas) == 11 and sigmas[-1] == 0
    assert sigmas[0].item() == pytest.approx(80.0) and sigmas[-2].item() == pytest.approx(0.002)
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    ramp = (sigmas[:-1] ** (1 / 7)).diff()  # eq. 5: equally spaced in σ^{1/ρ}
    torch.testing.assert_close(ramp, ramp[:1].expand_as(ramp))
    assert karras(1).tolist() == [80.0, 0.0]
    assert karras(3, 0.1, 5.0, rho=1.0, dtype=torch.float32).tolist() == pytest.approx([5.0, 2.55, 0.1, 0.0])


def test_log_snr_grid_is_equally_spaced_in_log_sigma():
    sigmas = log_snr(6, sigma_min=0.01, sigma_max=100.0)
    assert len(sigmas) == 7 and sigmas[-1] == 0
    steps = sigmas[:-1].log().diff()
    torch.testing.assert_close(steps, torch.full_like(steps, math.log(1e-4) / 5))
    assert log_snr(1).tolist() == [80.0, 0.0]
    torch.testing.assert_close(make_grid("log_snr", 6, sigma_min=0.01, sigma_max=100.0), sigmas)


def test_rectified_flow_time_round_trips():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    sigma = rf_time_to_sigma(t)
    assert sigma[0] == 0 and math.isinf(sigma[-1]) and sigma[5].item() == pytest.approx(1.0)
    torch.testing.assert_close(sigma_to_rf_time(sigma), t)
    assert sigma_to_rf_time(3.0).item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rf_time_to_sigma(1.5)


@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_steps_below_one_or_not_an_integer_are_refused(steps):
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        make_grid("karras", steps)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        get_sampler("heun").nfe(steps)


def test_unknown_grid_name_suggests_the_close_one():
    with pytest.raises(UnknownNameError, match=r"unknown grid 'karas'.*Did you mean 'karras'"):
        make_grid("karas", 4)


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("sigmas,message", [
    (torch.tensor([10.0, 10.0, 0.0]), "strictly decreasing"),
    (torch.tensor([1.0, 5.0, 0.0]), "strictly decreasing"),
    (torch.tensor([10.0, 1.0]), "end exactly at 0"),
    (torch.tensor([float("inf"), 1.0, 0.0]), "NaN or Inf"),
    (torch.tensor([[1.0, 0.0]]), "1-D"),
    (torch.tensor([0.0]), "at least 2"),
    (torch.tensor([3, 0]), "floating-point"),
])
def test_bad_grids_are_refused_clearly(sigmas, message):
    with pytest.raises(ValueError, match=message):
        get_sampler("euler")(gaussian_denoiser, torch.zeros(2, 1), sigmas)


def test_bad_start_points_are_refused():
    sigmas = karras(2)
    with pytest.raises(ValueError, match="NaN or Inf"):
        get_sampler("euler")(gaussian_denoiser, torch.tensor([[float("nan")]]), sigmas)
    with pytest.raises(ValueError, match=r"floating-point torch.Tensor shaped \[B, ...\]"):
        get_sampler("euler")(gaussian_denoiser, torch.ones(2, 1, dtype=torch.int64), sigmas)


def test_stochastic_samplers_without_generator_are_refused():
    sigmas = karras(2)
    with pytest.raises(ValueError, match="'pingpong' draws noise and needs generator=torch.Generator"):
        get_sampler("pingpong")(gaussian_denoiser, start(sigmas, n=2), sigmas)
    with pytest.raises(ValueError, match="needs generator"):
        get_sampler("ctm_gamma")(gaussian_denoiser, start(sigmas, n=2), sigmas, gamma=0.5)


def test_unknown_and_bad_options_are_refused_naming_the_allowed_ones():
    sigmas = karras(2)
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'gama'.*allowed options: gamma, jump"):
        get_sampler("ctm_gamma")(gaussian_denoiser, start(sigmas, n=2), sigmas, gama=0.5)
    with pytest.raises(ValueError, match="allowed options: none"):
        get_sampler("heun")(gaussian_denoiser, start(sigmas, n=2), sigmas, churn=0.1)
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\]"):
        get_sampler("ctm_gamma")(gaussian_denoiser, start(sigmas, n=2), sigmas, gamma=1.5, generator=gen())


def test_a_denoiser_returning_the_wrong_shape_is_reported():
    sigmas = karras(2)
    with pytest.raises(ValueError, match="shaped like x"):
        get_sampler("euler")(lambda x, s: x.sum(dim=1), start(sigmas, n=2), sigmas)
