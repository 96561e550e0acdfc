"""``soundctm``: the student at initialisation, the jump forms, the training draws, the teacher's ODE
run and its NFE, the feature distance, the adaptive weight, SoundCTM's γ-sampler landing on σ_min,
ν-mixing and its NFE, bad generation options and settings, and a micro fit (resumes bit-identically)."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from systems.api import GenRequest, SystemInputError
from systems.components.ctm_dit import CTMDiT, ctm_from_teacher, ctm_inner, ctm_jump
from systems.components.dit import DiT, DiTConfig
from systems.components.edm import EDMDenoiser
from systems.samplers import get_sampler
from systems.samplers.grids import karras
from systems.tasks.consistency_distillation import guided_denoise, heun_step
from systems.tasks.ctm import (
    CTMTask,
    adaptive_weight,
    ctm_grid,
    feature_distance,
    l2_distance,
    unit_tokens,
    weighted_k_probabilities,
)
from systems.training import Budget

CFG = DiTConfig(in_channels=4, width=16, depth=2, heads=2, text_dim=8, fourier_dim=8, patch=1)
SAMPLING = {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0}
SETTINGS = {"n_grid": 18, "omega_min": 1.0, "omega_max": 5.0, "distance": "features", "lambda_dsm": 0.2,
            "p_uncond": 0.1, "lr": 2e-4, "weight_decay": 0.0, "target_ema": 0.99, "seed": 0}


def random_teacher(seed: int = 0) -> EDMDenoiser:
    """A teacher-shaped denoiser with every weight random (a fresh DiT predicts 0: too easy a test)."""
    teacher = EDMDenoiser(DiT(CFG), sigma_data=0.5)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in teacher.parameters():
            param.copy_(0.3 * torch.randn(param.shape, generator=generator))
    return teacher.eval().requires_grad_(False)


def conditions(b: int, length: int = 3, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[:, -1] = False
    cond = {"tokens": torch.randn(b, length, CFG.text_dim, generator=generator), "mask": mask}
    null = {"tokens": torch.zeros(b, length, CFG.text_dim), "mask": torch.ones(b, length, dtype=torch.bool)}
    return cond, null


def latents(b: int, frames: int = 6, seed: int = 2) -> torch.Tensor:
    return 0.5 * torch.randn(b, CFG.in_channels, frames, generator=torch.Generator().manual_seed(seed))


class CountingTeacher(torch.nn.Module):
    """Counts per-sample evaluations of the teacher as a target (forward) and as the feature network."""

    def __init__(self, teacher: EDMDenoiser) -> None:
        super().__init__()
        self.teacher, self.evaluations, self.feature_evaluations = teacher, 0, 0
        self.sigma_data = teacher.sigma_data

    def forward(self, x, sigma, cond):
        self.evaluations += x.shape[0]
        return self.teacher(x, sigma, cond)

    def features(self, x, sigma, cond, layers=None):
        self.feature_evaluations += x.shape[0]
        return self.teacher.features(x, sigma, cond, layers)


def make_task(teacher, n: int = 8, batch: int = 4, **changes) -> CTMTask:
    cond, null = conditions(n)
    data = {"latents": latents(n), "tokens": cond["tokens"], "mask": cond["mask"],
            "null": {k: v[:1] for k, v in null.items()}}
    student = ctm_from_teacher(getattr(teacher, "teacher", teacher)).train()   # CountingTeacher: inside
    return CTMTask("soundctm", {"test": 1}, student, copy.deepcopy(student), teacher, data,
                   {**SETTINGS, **changes}, batch, SAMPLING)


# ---------------------------------------------------------------- the student network

def test_at_init_g_is_the_teachers_denoiser_for_every_s_and_omega_and_G_of_t_t_is_x():
    teacher = random_teacher()
    student = ctm_from_teacher(teacher).eval().requires_grad_(False)   # frozen like the teacher: the same
    cond, _ = conditions(5)                                             # kernels, so bitwise equal
    x, t = latents(5) + torch.randn(5, 4, 6), torch.tensor([0.01, 0.3, 1.0, 7.0, 80.0])
    omega = torch.tensor([1.0, 2.0, 3.0, 4.5, 5.0])
    denoised = teacher(x, t, cond)
    assert torch.equal(ctm_inner(student, x, t, t, cond, omega), denoised)          # g(x, t, t) = D(x, t)
    assert torch.equal(ctm_inner(student, x, t, t / 3, cond, omega), denoised)      # and for every s
    assert torch.equal(ctm_jump(student, x, t, t, cond, omega), x)                  # G(x, t, t) = x
    s = t / 4
    ddim = denoised + (s / t).view(-1, 1, 1) * (x - denoised)   # G at init: the teacher's DDIM jump
    torch.testing.assert_close(ctm_jump(student, x, t, s, cond, omega), ddim, rtol=1e-5, atol=1e-5)


def test_s_and_omega_reach_the_output_once_their_gates_are_trained():
    student = ctm_from_teacher(random_teacher()).eval().requires_grad_(False)
    cond, _ = conditions(3)
    x, t, omega = latents(3) * 3, torch.tensor([0.5, 2.0, 9.0]), torch.full((3,), 3.0)
    with torch.no_grad():
        student.net.s_gate.weight.normal_()
    moved = ctm_inner(student, x, t, t / 2, cond, omega) - ctm_inner(student, x, t, t / 4, cond, omega)
    assert moved.abs().max() > 1e-3
    with torch.no_grad():
        student.net.guidance_embed.weight.normal_()
    moved = ctm_inner(student, x, t, t, cond, omega) - ctm_inner(student, x, t, t, cond, omega + 1)
    assert moved.abs().max() > 1e-3


def test_the_student_holds_the_teachers_keys_plus_its_own_and_the_s_term_uses_the_teachers_time_mlp():
    teacher = random_teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = ctm_from_teacher(teacher)
    assert set(student.state_dict()) - set(before) == {"net.guidance_embed.weight", "net.guidance_embed.bias",
                                                       "net.s_gate.weight"}
    assert all(torch.equal(teacher.state_dict()[k], v) for k, v in before.items())
    assert not hasattr(student.net, "s_time_mlp") and isinstance(student.net, CTMDiT)


def test_a_missing_or_bad_s_is_a_clear_error():
    student, cond = ctm_from_teacher(random_teacher()), conditions(2)[0]
    x, t = latents(2), torch.ones(2)
    with pytest.raises(SystemInputError, match="CTMDiT needs the target level: put 's'"):
        student(x, t, {**cond, "omega": torch.ones(2)})
    with pytest.raises(SystemInputError, match="one level per sample"):
        student(x, t, {**cond, "omega": torch.ones(2), "s": torch.ones(3)})
    with pytest.raises(SystemInputError, match="must be > 0"):
        student(x, t, {**cond, "omega": torch.ones(2), "s": torch.zeros(2)})


# ---------------------------------------------------------------- training draws and the teacher's ODE

def test_k_n_m_omega_dropout_and_dsm_draws_cover_their_ranges():
    task = make_task(random_teacher())
    d = task.draw((20000, 4, 6), torch.Generator().manual_seed(0))
    k, n, m, big_n = d["k"], d["n"], d["m"], 18
    assert k.min() == 1 and k.max() == big_n - 1
    counts = torch.bincount(k, minlength=big_n)[1:].double()
    torch.testing.assert_close(counts / counts.sum(), weighted_k_probabilities(big_n), atol=0.006, rtol=0)
    assert k.double().mean().item() == pytest.approx(35 / 3, abs=0.1)    # E[k] = Σk²/Σk ≈ 11.7 for N = 18
    assert (n >= 0).all() and (n <= big_n - 1 - k).all() and (n + k <= big_n - 1).all()
    assert (m >= n + k).all() and (m <= big_n - 1).all()
    assert set(n.tolist()) == set(range(big_n - 1))   # m = 1 needs k = 1, n = 0 (P ≈ 2e-5): not asked
    assert set(range(2, big_n)) <= set(m.tolist()) <= set(range(1, big_n))
    # uniform given k (and n): the position within the allowed range has mean 1/2
    assert ((n + 0.5) / (big_n - k)).mean().item() == pytest.approx(0.5, abs=0.01)
    assert ((m - n - k + 0.5) / (big_n - n - k)).mean().item() == pytest.approx(0.5, abs=0.01)
    assert 1.0 <= d["omega"].min() and d["omega"].max() <= 5.0
    assert d["omega"].mean().item() == pytest.approx(3.0, abs=0.05)
    assert d["drop"].float().mean().item() == pytest.approx(0.1, abs=0.01)
    sigma, half = d["sigma_dsm"], 10000
    assert sigma[:half].log().mean().item() == pytest.approx(-1.2, abs=0.05)
    assert sigma[half:].min() >= 0.318 and sigma[half:].max() <= 80.0 and sigma[half:].min() < 0.33
    again = task.draw((20000, 4, 6), torch.Generator().manual_seed(0))
    assert all(torch.equal(d[key], again[key]) for key in d)


def test_the_grid_is_n_karras_levels_without_0():
    grid = ctm_grid(18, SAMPLING)
    assert len(grid) == 18 and grid[0] == 80.0 and grid[-1] == pytest.approx(0.002)
    assert torch.equal(grid, karras(18, **SAMPLING)[:-1])


def test_the_teacher_run_takes_each_rows_own_k_steps_and_costs_4_per_step():
    counting = CountingTeacher(random_teacher())
    task = make_task(counting)
    cond, null = conditions(3)
    x, omega = latents(3) + 20 * torch.randn(3, 4, 6), torch.tensor([1.0, 2.5, 4.0])
    n, k = torch.tensor([0, 3, 10]), torch.tensor([4, 1, 7])
    out, nfe = task.teacher_solve(x, n, k, cond, null, omega)
    assert nfe == 4 * 12 == counting.evaluations
    grid = task.sigmas.float()
    for row in range(3):
        rows = slice(row, row + 1)
        one, one_null = ({key: v[rows] for key, v in c.items()} for c in (cond, null))
        w = omega[rows]

        def denoise(z, sigma, one=one, one_null=one_null, w=w):
            return guided_denoise(counting.teacher, z, sigma, one, one_null, w)

        y = x[rows]
        for j in range(int(k[row])):
            level = n[row] + j
            y = heun_step(denoise, y, grid[level].view(1), grid[level + 1].view(1))
        torch.testing.assert_close(out[rows], y, rtol=1e-5, atol=1e-5)


def test_the_online_nfe_of_an_update_is_4k_per_sample_and_the_feature_network_is_not_charged():
    counting = CountingTeacher(random_teacher())
    task = make_task(counting)
    batch = task.batch(0)
    loss, scalars, nfe = task.loss(batch, torch.Generator().manual_seed(7))
    k = task.draw(batch["x0"].shape, torch.Generator().manual_seed(7))["k"]   # the same draws
    assert nfe == 4 * int(k.sum()) == counting.evaluations
    assert counting.feature_evaluations == 2 * 4 == scalars["feature_evals"]
    assert scalars["mean_k"] == pytest.approx(float(k.double().mean()))
    assert loss.requires_grad and torch.isfinite(loss) and scalars["beta"] >= 0
    loss.backward()
    assert task.student.net.s_gate.weight.grad.abs().sum() > 0    # the s-term learns from step 0
    assert all(p.grad is None for p in counting.parameters())        # the frozen teacher stays frozen


def test_the_l2_ablation_needs_no_feature_network():
    counting = CountingTeacher(random_teacher())
    task = make_task(counting, distance="l2")
    loss, scalars, nfe = task.loss(task.batch(0), torch.Generator().manual_seed(7))
    assert counting.feature_evaluations == 0 == scalars["feature_evals"] and nfe == counting.evaluations > 0
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="unknown distance 'lpips'"):
        make_task(random_teacher(), distance="lpips")


def test_the_target_is_x_u_when_s_equals_u():
    task = make_task(random_teacher())
    cond, _ = conditions(2)
    x, u, omega = latents(2) * 5, torch.tensor([3.0, 0.4]), torch.tensor([2.0, 4.0])
    assert torch.equal(ctm_jump(task.target, x, u, u, cond, omega), x)


# ---------------------------------------------------------------- the distance and the adaptive weight

def test_the_feature_distance_is_0_for_equal_inputs_and_positive_otherwise():
    teacher, cond = random_teacher(), conditions(3)[0]
    est, s = latents(3), torch.tensor([0.1, 1.0, 10.0])
    assert torch.equal(feature_distance(teacher, est, est.clone(), s, cond), torch.zeros(3))
    assert (feature_distance(teacher, est, est + 0.1 * torch.randn(3, 4, 6), s, cond) > 0).all()
    assert torch.equal(l2_distance(est, est), torch.zeros(3))


def test_unit_normalisation_along_tokens_ignores_each_channels_scale_but_not_each_tokens():
    feature = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0))
    per_channel = torch.rand(2, 1, 16, generator=torch.Generator().manual_seed(1)) + 0.1
    torch.testing.assert_close(unit_tokens(feature * per_channel), unit_tokens(feature))
    assert unit_tokens(feature).norm(dim=1).sub(1).abs().max() < 1e-5
    per_token = torch.rand(2, 5, 1, generator=torch.Generator().manual_seed(2)) + 0.1
    assert not torch.allclose(unit_tokens(feature * per_token), unit_tokens(feature), atol=1e-3)


def test_the_feature_distance_reads_the_teachers_features_at_c_in_s():
    teacher, cond = random_teacher(), conditions(2)[0]
    est, tgt, s = latents(2), latents(2, seed=5), torch.tensor([0.3, 4.0])
    ours = feature_distance(teacher, est, tgt, s, cond)
    c_in = (1 / (s**2 + 0.25).sqrt()).view(-1, 1, 1)
    _, a = teacher.net(c_in * est, s.log() / 4, cond["tokens"], cond["mask"], return_features=True)
    _, b = teacher.net(c_in * tgt, s.log() / 4, cond["tokens"], cond["mask"], return_features=True)
    by_hand = sum((x / x.norm(dim=1, keepdim=True) - y / y.norm(dim=1, keepdim=True)).pow(2).mean(dim=(1, 2))
                  for x, y in zip(a, b))
    torch.testing.assert_close(ours, by_hand)
    assert len(a) == CFG.depth


def test_the_adaptive_weight_is_the_clipped_ratio_of_last_layer_gradient_norms():
    layer = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    first, second = layer(x).pow(2).sum(), 0.1 * layer(x).sum()
    expected = torch.autograd.grad(first, layer.weight, retain_graph=True)[0].norm() / (
        torch.autograd.grad(second, layer.weight, retain_graph=True)[0].norm() + 1e-4)
    beta = adaptive_weight(first, second, layer.weight)
    torch.testing.assert_close(beta, expected.detach())
    assert not beta.requires_grad
    assert adaptive_weight(1e9 * first, second, layer.weight) == 1e3
    (first + beta * second).backward()   # the graphs survive for the update's backward


# ---------------------------------------------------------------- SoundCTM's sampler

def test_the_sampler_lands_on_sigma_min_and_jumps_to_soundctms_levels():
    from systems.soundctm import soundctm_grid

    sampling, seen = SAMPLING, []

    def jump(x, t, s):
        seen.append((float(t[0]), float(s[0])))
        return x * 0.5

    for steps in (1, 2, 4):
        grid = soundctm_grid(steps, sampling)
        levels = karras(steps + 1, **sampling)[:-1].tolist()     # the paper's S + 1 levels σ_max … σ_min
        assert grid[:-1].tolist() == levels[:-1] and grid[-1] == 0
        for gamma in (0.0, 0.5, 1.0):
            seen.clear()
            get_sampler("ctm_gamma")(None, torch.ones(2, 3), grid, gamma=gamma, jump=jump, sigma_min=0.002,
                                     generator=torch.Generator().manual_seed(0))
            expected = [math.sqrt(1 - gamma**2) * (b - 0.002) + 0.002 for b in levels[1:]]
            assert seen == [(pytest.approx(a, rel=1e-6), pytest.approx(b, rel=1e-6))
                            for a, b in zip(levels[:-1], expected)]
            assert seen[-1][1] == pytest.approx(0.002, rel=1e-6)   # the last jump lands on σ_min for every γ


def test_the_sampler_renoises_to_the_next_level_except_on_the_last_step():
    grid = torch.tensor([80.0, 5.0, 0.5, 0.0], dtype=torch.float64)
    gamma, floor = 0.6, 0.002
    x = torch.zeros(20000, 1)
    out_steps = []

    def jump(x, t, s):   # G = 0: what is left is the re-noise of the previous step
        out_steps.append(x.std().item())
        return torch.zeros_like(x)

    out = get_sampler("ctm_gamma")(None, x, grid, gamma=gamma, jump=jump, sigma_min=floor,
                                   generator=torch.Generator().manual_seed(0))
    for level, std in zip((5.0, 0.5), out_steps[1:]):
        s = math.sqrt(1 - gamma**2) * (level - floor) + floor
        assert std == pytest.approx(math.sqrt(level**2 - s**2), rel=0.03)
    assert torch.equal(out, torch.zeros_like(out))   # no noise after the last jump


def test_sigma_min_0_is_the_plain_ctm_sampler_and_bad_sigma_min_is_refused():
    grid = karras(4, **SAMPLING)
    x = 80.0 * torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    denoise = lambda y, s: 0.3 * y  # noqa: E731
    run = get_sampler("ctm_gamma")
    assert torch.equal(run(denoise, x, grid, gamma=0.0), run(denoise, x, grid, gamma=0.0, sigma_min=0.0))
    with pytest.raises(ValueError, match="must lie below the grid's last positive level"):
        run(denoise, x, grid, sigma_min=0.002)   # the Karras grid's last level already is σ_min
    with pytest.raises(ValueError, match="must lie below the grid's last positive level"):
        run(denoise, x, grid, sigma_min=0.01)
    with pytest.raises(ValueError, match="sigma_min must be a finite number >= 0"):
        run(denoise, x, grid, sigma_min=-1.0)


# ---------------------------------------------------------------- the system on the micro components

@pytest.fixture(scope="module")
def fitted(micro_components, micro_store):
    from systems.soundctm import SoundCTM

    system = SoundCTM.from_components(micro_components)
    report = system.fit(Budget(max_updates=2, batch=4), settings=SoundCTM.test_settings, store=micro_store,
                        progress=False)
    return system, report


def request(steps=1, **kw):
    return GenRequest(prompts=("a tone", "a hum"), seeds=(0, 1), steps=steps, **kw)


def test_a_micro_fit_records_its_online_nfe_and_sanity_then_generates(fitted):
    system, report = fitted
    assert 2 * 4 * 4 <= report.online_teacher_nfe <= 2 * 4 * 4 * 17 and report.online_teacher_nfe % 4 == 0
    sanity = system.training_record()["sanity"]
    assert sanity["n_items"] == 4 and sanity["student_rmse"] > 0 and sanity["teacher_one_step_rmse"] > 0
    assert system.config()["grid"] == "soundctm_karras" and system.config()["gamma"] == 0.0
    history = report.history[-1]
    assert {"loss_ctm", "loss_dsm", "beta", "mean_k", "feature_evals"} <= set(history)
    result = system.generate(request(steps=2))
    assert result.audio.shape[0] == 2 and np.isfinite(result.audio).all()


@pytest.mark.parametrize("nu, per_step, rows_per_call", [(1.0, 1, 1), (0.0, 1, 1), (1.5, 2, 2), (0.5, 2, 2)])
def test_nfe_is_counted_per_branch(fitted, nu, per_step, rows_per_call):
    system, _ = fitted
    rows = []
    hook = system.denoiser.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    try:
        for steps in (1, 2, 4):
            rows.clear()
            result = system.generate(request(steps=steps, options={"nu": nu}))
            assert result.nfe == per_step * steps
            assert rows == [2 * rows_per_call] * steps and sum(rows) == 2 * result.nfe   # what really ran
    finally:
        hook.remove()


def test_nu_mixes_the_conditional_and_the_unconditional_students(fitted):
    system, _ = fitted
    z = {nu: system.sample_latents(request(steps=1, options={"nu": nu}))[1] for nu in (0.0, 1.0, 2.0)}
    assert not torch.allclose(z[0.0], z[1.0])   # ν = 0: the unconditional student, ν = 1: the conditional
    # one jump: mixν = G_∅ + ν(G_c − G_∅) is affine in ν
    torch.testing.assert_close(z[2.0] - z[1.0], z[1.0] - z[0.0], rtol=1e-4, atol=1e-5)


def test_gamma_0_is_deterministic_given_the_noise_and_gamma_above_0_varies_with_the_seed(fitted):
    system, _ = fitted
    fixed = system.initial_noise(request())
    system.initial_noise = lambda req: fixed.clone()   # the same initial noise for every seed
    try:
        out = {(gamma, seeds): system.sample_latents(GenRequest(prompts=("a tone", "a hum"), seeds=seeds,
                                                                steps=4, options={"gamma": gamma}))[1]
               for gamma in (0.0, 0.5, 1.0) for seeds in ((0, 1), (7, 8))}
    finally:
        del system.initial_noise
    assert torch.equal(out[(0.0, (0, 1))], out[(0.0, (7, 8))])
    for gamma in (0.5, 1.0):
        assert not torch.allclose(out[(gamma, (0, 1))], out[(gamma, (7, 8))])
        assert not torch.allclose(out[(gamma, (0, 1))], out[(0.0, (0, 1))])


@pytest.mark.parametrize("kw, words", [
    ({"options": {"gamma": 1.5}}, r"gamma must be a number in \[0, 1\]"),
    ({"options": {"gamma": -0.1}}, r"gamma must be a number in \[0, 1\]"),
    ({"options": {"gamma": True}}, r"gamma must be a number in \[0, 1\]"),
    ({"options": {"nu": -1.0}}, "nu must be a finite number >= 0"),
    ({"options": {"nu": float("nan")}}, "nu must be a finite number >= 0"),
    ({"options": {"sigma_min": 0.1}}, r"does not understand option\(s\) \['sigma_min'\]"),
    ({"options": {"jump": None}}, r"does not understand option\(s\) \['jump'\]"),
    ({"guidance": 6.0}, r"trained for ω \(its guidance input\) in \[1, 5\]; got 6"),
    ({"guidance": 0.5}, r"trained for ω \(its guidance input\) in \[1, 5\]; got 0.5"),
])
def test_bad_generation_options_are_refused(fitted, kw, words):
    system, _ = fitted
    with pytest.raises(SystemInputError, match=words):
        system.generate(request(**kw))
    with pytest.raises(SystemInputError, match=words):
        system.sample_latents(request(**kw))


def test_system_defaults_for_gamma_and_nu_are_checked_and_recorded(micro_components):
    from systems.soundctm import SoundCTM

    system = SoundCTM.from_components(micro_components, gamma=0.5, nu=1.5)
    assert (system.gamma, system.nu) == (0.5, 1.5)
    with pytest.raises(SystemInputError, match="gamma must be"):
        SoundCTM.from_components(micro_components, gamma=2.0)
    with pytest.raises(SystemInputError, match="nu must be"):
        SoundCTM.from_components(micro_components, nu=-0.5)


@pytest.mark.parametrize("settings, words", [
    ({"omega_min": -1.0}, "need 0 <= omega_min <= omega_max"),
    ({"omega_min": 4.0, "omega_max": 3.5}, "need 0 <= omega_min <= omega_max"),
    ({"omega_max": 2.0}, "guidance 3 .* outside the training range"),
    ({"n_grid": 1}, "n_grid must be an int >= 2"),
    ({"distance": "lpips"}, "distance must be one of"),
    ({"p_uncond": 1.5}, "p_uncond is a probability"),
    ({"lambda_dsm": -0.1}, "lambda_dsm must be >= 0"),
    ({"target_ema": 1.0}, "target_ema is an EMA decay"),
])
def test_bad_settings_are_refused_before_any_training(settings, words, micro_components, tmp_path):
    from systems.soundctm import SoundCTM
    from systems.training import ComponentStore

    with pytest.raises(SystemInputError, match=words):
        SoundCTM.from_components(micro_components).fit(
            Budget(max_updates=2, batch=4), settings=settings, store=ComponentStore(tmp_path), progress=False)
    assert not any(tmp_path.glob("soundctm-*"))   # nothing was trained


def test_the_l2_ablation_differs_from_soundctm_in_its_distance_only():
    from systems.soundctm import SoundCTM
    from systems.soundctm_l2 import SoundCTML2

    diff = {k for k in SoundCTM.train_defaults if SoundCTM.train_defaults[k] != SoundCTML2.train_defaults[k]}
    assert diff == {"distance"} and SoundCTML2.train_defaults["distance"] == "l2"
    assert SoundCTML2.info.name == "soundctm-l2"


def test_an_interrupted_run_resumes_bit_identically_target_network_included(micro_components, tmp_path):
    from systems.soundctm import SoundCTM
    from systems.training import train

    system = SoundCTM.from_components(micro_components)
    settings = system.train_settings(SoundCTM.test_settings)
    states = {}
    for name, budgets in (("resumed", (2, 3)), ("whole", (3,))):
        for updates in budgets:   # a fresh task each time, as after a kill
            task = system._task({"run": "resume-test"}, settings, 4)
            report = train(task, Budget(max_updates=updates), tmp_path / name, seed=0,
                           ema_decay=settings["ema"], grad_clip=settings["grad_clip"], progress=False)
        assert report.updates == 3 and report.resumed_from_update == (2 if name == "resumed" else None)
        states[name] = {f"{m}/{k}": v for m, module in task.modules().items()
                        for k, v in module.state_dict().items()}
        states[name]["nfe"] = torch.tensor(report.online_teacher_nfe)
    assert states["resumed"].keys() == states["whole"].keys()
    assert any(k.startswith("target/") for k in states["whole"])
    assert all(torch.equal(states["resumed"][k], states["whole"][k]) for k in states["whole"])
    student, target = (states["whole"][f"{m}/net.s_gate.weight"] for m in ("student", "target"))
    assert not torch.equal(student, target) and target.abs().sum() > 0   # the target lags, but moves
