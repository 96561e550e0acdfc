"""``cd``: the guided student's embedding, the consistency-distillation target and teacher step in
closed form, the step grids, bad settings, and a micro fit (NFE = steps, resumes bit-identically)."""
from __future__ import annotations

import copy

import pytest
import torch

from systems.api import GenRequest, SystemInputError
from systems.components.dit import DiT, DiTConfig
from systems.components.edm import EDMDenoiser
from systems.components.guided_dit import GuidedDiT, guided_from_teacher
from systems.samplers.grids import karras
from systems.samplers.guidance import classifier_free
from systems.samplers.heun import heun
from systems.tasks.consistency_distillation import (
    ConsistencyDistillationTask,
    ema_update,
    guided_denoise,
    heun_step,
    loss_weight,
)
from systems.training import Budget

CFG = DiTConfig(in_channels=4, width=16, depth=1, heads=2, text_dim=8, fourier_dim=8, patch=1)
SAMPLING = {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0}
SETTINGS = {"n_grid": 18, "w_min": 0.0, "w_max": 5.0, "lr": 1e-4, "weight_decay": 1e-4, "target_ema": 0.95,
            "weighting": "uniform", "seed": 0}


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


def make_task(teacher: EDMDenoiser, n: int = 8, **changes) -> ConsistencyDistillationTask:
    cond, null = conditions(n)
    data = {"latents": latents(n), "tokens": cond["tokens"], "mask": cond["mask"],
            "null": {k: v[:1] for k, v in null.items()}}
    student = guided_from_teacher(getattr(teacher, "teacher", teacher)).train()   # CountingTeacher: inside
    return ConsistencyDistillationTask("cd", {"test": 1}, student, copy.deepcopy(student), teacher, data,
                                       {**SETTINGS, **changes}, 4, SAMPLING)


# ---------------------------------------------------------------- the guided student

def test_the_guided_student_equals_the_teacher_at_init_for_every_w():
    teacher = random_teacher()
    student = guided_from_teacher(teacher).eval().requires_grad_(False)   # frozen like the teacher: the
    cond, _ = conditions(5)                                       # same kernels, so bitwise equal
    x, sigma = latents(5) + torch.randn(5, 4, 6), torch.tensor([0.01, 0.3, 1.0, 7.0, 80.0])
    w = torch.tensor([0.0, 1.0, 2.5, 3.0, 4.9])
    assert torch.equal(student(x, sigma, {**cond, "guidance": w}), teacher(x, sigma, cond))
    with torch.no_grad():   # and w does reach the output once the embedding is trained
        student.net.guidance_embed.weight.normal_()
    moved = student(x, sigma, {**cond, "guidance": w + 1.0}) - student(x, sigma, {**cond, "guidance": w})
    assert moved.abs().max() > 1e-3


def test_the_student_holds_the_teachers_keys_plus_the_embedding_and_the_teacher_is_untouched():
    teacher = random_teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = guided_from_teacher(teacher)
    assert set(student.state_dict()) - set(before) == {"net.guidance_embed.weight", "net.guidance_embed.bias"}
    assert set(before) <= set(student.state_dict())
    assert all(torch.equal(teacher.state_dict()[k], v) for k, v in before.items())


def test_a_missing_or_misshapen_guidance_is_a_clear_error_and_the_teacher_refuses_one():
    student, cond = guided_from_teacher(random_teacher()), conditions(2)[0]
    x, sigma = latents(2), torch.ones(2)
    with pytest.raises(SystemInputError, match="GuidedDiT needs the CFG scale: put 'guidance'"):
        student(x, sigma, cond)
    with pytest.raises(SystemInputError, match="one value per sample"):
        student(x, sigma, {**cond, "guidance": torch.ones(3)})
    with pytest.raises(TypeError, match="takes no extra conditioning"):
        random_teacher()(x, sigma, {**cond, "guidance": torch.ones(2)})
    omega = EDMDenoiser(GuidedDiT(CFG, key="omega"))   # SoundCTM names its input ω
    assert omega(x, sigma, {**cond, "omega": torch.ones(2)}).shape == x.shape


# ---------------------------------------------------------------- the teacher step and the target

def test_the_per_sample_cfg_heun_step_is_the_heun_sampler_on_one_interval():
    teacher, (cond, null) = random_teacher(), conditions(2)
    x, hi, lo, w = latents(2) * 30.0, 12.0, 5.0, 2.5
    ours = heun_step(lambda y, s: guided_denoise(teacher, y, s, cond, null, torch.full((2,), w)), x,
                     torch.full((2,), hi), torch.full((2,), lo))
    theirs = heun(classifier_free(teacher, cond, null, w), x, torch.tensor([hi, lo], dtype=torch.float64))
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


def test_each_sample_takes_its_own_w_and_sigmas():
    teacher, (cond, null) = random_teacher(), conditions(2)
    x, w = latents(2) * 10.0, torch.tensor([0.0, 4.0])
    hi, lo = torch.tensor([12.0, 0.5]), torch.tensor([5.0, 0.2])
    both = heun_step(lambda y, s: guided_denoise(teacher, y, s, cond, null, w), x, hi, lo)
    for i in range(2):
        one = {k: v[i: i + 1] for k, v in cond.items()}, {k: v[i: i + 1] for k, v in null.items()}
        alone = heun(classifier_free(teacher, *one, float(w[i])), x[i: i + 1],
                     torch.tensor([hi[i], lo[i]], dtype=torch.float64))
        torch.testing.assert_close(both[i: i + 1], alone, rtol=1e-5, atol=1e-5)


class CountingTeacher(torch.nn.Module):
    """Counts per-sample evaluations: each call adds its batch size (a CFG call: 2 per sample)."""

    def __init__(self, teacher: EDMDenoiser) -> None:
        super().__init__()
        self.teacher, self.evaluations = teacher, 0

    def forward(self, x, sigma, cond):
        self.evaluations += x.shape[0]
        return self.teacher(x, sigma, cond)


def test_the_target_is_x0_where_sigma_lo_is_0_and_the_teacher_is_charged_4_per_other_sample():
    counting = CountingTeacher(random_teacher())
    task = make_task(counting)
    x0, (cond, _) = latents(3), conditions(3)
    sigma_hi, sigma_lo = torch.tensor([0.002, 10.0, 0.002]), torch.tensor([0.0, 6.0, 0.0])
    x_hi = x0 + sigma_hi.view(-1, 1, 1) * torch.randn(x0.shape)
    target, nfe = task.consistency_target(x0, x_hi, sigma_hi, sigma_lo, cond, torch.tensor([1.0, 3.0, 2.0]))
    assert torch.equal(target[0], x0[0]) and torch.equal(target[2], x0[2])
    assert not torch.allclose(target[1], x0[1])
    assert nfe == 4 == counting.evaluations
    counting.evaluations = 0
    assert task.consistency_target(x0, x_hi, sigma_hi, torch.zeros(3), cond, torch.ones(3))[1] == 0
    assert counting.evaluations == 0


def test_the_online_nfe_of_an_update_is_4_per_sample_not_at_the_last_interval():
    counting = CountingTeacher(random_teacher())
    task = make_task(counting)
    batch = task.batch(0)
    loss, scalars, nfe = task.loss(batch, torch.Generator().manual_seed(7))
    _, _, sigma_lo, _ = task.draw(batch["x0"].shape, torch.Generator().manual_seed(7))   # the same draws
    assert nfe == 4 * int((sigma_lo > 0).sum()) == counting.evaluations
    assert scalars["data_target"] == pytest.approx(float((sigma_lo == 0).float().mean()))
    assert loss.requires_grad and torch.isfinite(loss)


def test_draws_cover_the_grid_and_the_w_range():
    task = make_task(random_teacher(), w_min=1.0, w_max=4.0)
    w, hi, lo, _ = task.draw((4000, 4, 6), torch.Generator().manual_seed(0))
    grid = karras(18, **SAMPLING)
    assert 1.0 <= w.min() and w.max() <= 4.0 and w.mean().item() == pytest.approx(2.5, abs=0.1)
    assert set(hi.tolist()) == set(grid[:-1].tolist())
    assert all(lo[i] == grid[grid.tolist().index(h) + 1] for i, h in enumerate(hi.tolist()[:50]))


def test_loss_weights_and_the_target_ema():
    sigma = torch.tensor([80.0, 1.0, 0.1])
    assert torch.equal(loss_weight(sigma, "uniform", 0.5), torch.ones(3))
    snr = loss_weight(sigma, "min_snr5", 0.5)
    assert snr[0].item() == pytest.approx(0.25 / 6400) and snr[1].item() == 0.25 and snr[2].item() == 5.0
    with pytest.raises(ValueError, match="unknown weighting 'x'"):
        loss_weight(sigma, "x", 0.5)
    target, online = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expected = 0.95 * target.weight.detach() + 0.05 * online.weight.detach()
    ema_update(target, online, 0.95)
    torch.testing.assert_close(target.weight.detach(), expected)


# ---------------------------------------------------------------- sampling grids

def test_the_step_grid_subsamples_the_training_grid():
    from systems.cd import step_grid

    grid = karras(18, **SAMPLING)
    assert step_grid(1, grid).tolist() == [80.0, 0.0]
    assert step_grid(2, grid).tolist() == [grid[0].item(), grid[9].item(), 0.0]
    assert step_grid(4, grid).tolist() == [grid[i].item() for i in (0, 5, 9, 14)] + [0.0]
    assert torch.equal(step_grid(18, grid), grid)
    with pytest.raises(SystemInputError, match="at most 18 steps; got 19"):
        step_grid(19, grid)


# ---------------------------------------------------------------- the system on the micro components

@pytest.mark.parametrize("settings, words", [
    ({"w_min": -1.0}, "need 0 <= w_min <= w_max"),
    ({"w_min": 4.0, "w_max": 3.5}, "need 0 <= w_min <= w_max"),
    ({"w_max": 2.0}, "guidance 3 .* outside the training range"),
    ({"n_grid": 1}, "n_grid must be an int >= 2"),
    ({"n_grid": 4.0}, "n_grid must be an int >= 2"),
    ({"weighting": "snr"}, "weighting must be one of"),
    ({"target_ema": 1.0}, "target_ema is an EMA decay"),
])
def test_bad_settings_are_refused_before_any_training(settings, words, micro_components, tmp_path):
    from systems.cd import ConsistencyDistillation
    from systems.training import ComponentStore

    with pytest.raises(SystemInputError, match=words):
        ConsistencyDistillation.from_components(micro_components).fit(
            Budget(max_updates=2, batch=4), settings=settings, store=ComponentStore(tmp_path), progress=False)
    assert not any(tmp_path.glob("cd-*"))   # nothing was trained


def test_a_micro_fit_generates_with_nfe_equal_to_steps(micro_components, micro_store):
    from systems.cd import ConsistencyDistillation

    system = ConsistencyDistillation.from_components(micro_components)
    report = system.fit(Budget(max_updates=2, batch=4), settings=ConsistencyDistillation.test_settings,
                        store=micro_store, progress=False)
    assert 0 < report.online_teacher_nfe <= 2 * 4 * 4 and report.online_teacher_nfe % 4 == 0
    sanity = system.training_record()["sanity"]
    assert sanity["n_items"] == 4 and sanity["cd_rmse"] > 0 and sanity["teacher_one_step_rmse"] > 0
    assert system.config()["grid"] == "karras_subsampled"
    for steps in (1, 2, 4):
        result = system.generate(GenRequest(prompts=("a tone", "a hum"), seeds=(0, 1), steps=steps))
        assert result.nfe == steps and result.audio.shape[0] == 2
    with pytest.raises(SystemInputError, match=r"trained for guidance in \[0, 5\]"):
        system.generate(GenRequest(prompts=("a tone",), seeds=(0,), steps=1, guidance=6.0))
    with pytest.raises(SystemInputError, match="at most 18 steps"):
        system.generate(GenRequest(prompts=("a tone",), seeds=(0,), steps=19))


def test_an_interrupted_run_resumes_bit_identically_target_network_included(micro_components, tmp_path):
    from systems.cd import ConsistencyDistillation
    from systems.training import train

    system = ConsistencyDistillation.from_components(micro_components)
    settings = system.train_settings(ConsistencyDistillation.test_settings)
    states = {}
    for name, budgets in (("resumed", (2, 4)), ("whole", (4,))):
        for updates in budgets:   # a fresh task each time, as after a kill
            task = system._task({"run": "resume-test"}, settings, 4)
            report = train(task, Budget(max_updates=updates), tmp_path / name, seed=0,
                           ema_decay=settings["ema"], progress=False)
        assert report.updates == 4 and report.resumed_from_update == (2 if name == "resumed" else None)
        states[name] = {f"{m}/{k}": v for m, module in task.modules().items()
                        for k, v in module.state_dict().items()}
    assert states["resumed"].keys() == states["whole"].keys()
    assert any(k.startswith("target/") for k in states["whole"])
    assert all(torch.equal(states["resumed"][k], states["whole"][k]) for k in states["whole"])
    student, target = (states["whole"][f"{m}/net.out.weight"] for m in ("student", "target"))
    assert not torch.equal(student, target)   # the target lags the student
