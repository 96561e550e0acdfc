"""AudioTurbo and LAFMA: their maths in closed form, their bad inputs, and training resumed after SIGKILL."""
from __future__ import annotations

import math

import pytest
import torch

from systems.api import SystemInputError
from systems.samplers import get_sampler
from systems.samplers.grids import flow_uniform
from systems.tasks.flow_matching import TIME_SCALE, FlowDenoiser
from systems.tasks.rectified_diffusion import pseudo_huber
from systems.training import Budget

# ---------------------------------------------------------------- LAFMA's convention, exactly

class Velocity(torch.nn.Module):
    """A smooth nonlinear velocity field v(x_t, time) = sin(x_t) · time / 1000 (no learning)."""

    def forward(self, x, time, tokens, mask):
        return torch.sin(x) * time.view(-1, 1, 1) / 1000.0


def test_flow_uniform_grid_is_lafmas_uniform_time_as_edm_sigma():
    sigmas = flow_uniform(4, t_min=1e-3)
    t = torch.linspace(1e-3, 1.0, 5, dtype=torch.float64)
    torch.testing.assert_close(sigmas, (1 - t) / t)
    assert sigmas[0].item() == pytest.approx(999.0) and sigmas[-1].item() == 0.0
    with pytest.raises(ValueError, match="t_min must lie in"):
        flow_uniform(4, t_min=0.0)


def test_euler_in_sigma_on_the_flow_denoiser_is_lafmas_euler_in_time():
    flow, cond = FlowDenoiser(Velocity()).double(), {"tokens": torch.zeros(2, 1, 1), "mask": torch.ones(2, 1)}
    eps = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sigmas = flow_uniform(6)
    ours = get_sampler("euler")(lambda x, s: flow(x, s, cond), sigmas[0] * eps, sigmas)
    t_grid, x = 1 / (1 + sigmas), (1 / (1 + sigmas[0])) * sigmas[0] * eps     # x_t at t_min
    for t, t_next in zip(t_grid[:-1], t_grid[1:]):                            # LAFMA: x += (t' − t)·v
        x = x + (t_next - t) * Velocity()(x, TIME_SCALE * t.expand(2), None, None)
    torch.testing.assert_close(ours, x)   # σ = 0 at the end: x̃ = x_t = the sample


def test_pseudo_huber_is_quadratic_near_zero_and_linear_far():
    c = 1e-3
    assert pseudo_huber(torch.tensor([0.0]), c).item() == 0.0
    small = torch.tensor([1e-5], dtype=torch.float64)
    assert pseudo_huber(small, c).item() == pytest.approx(1e-10 / (2 * c), rel=1e-3)
    assert pseudo_huber(torch.tensor([3.0]), c).item() == pytest.approx(math.sqrt(9 + c**2) - c)


# ---------------------------------------------------------------- bad inputs

def test_a_budget_of_zero_updates_is_a_clear_error():
    with pytest.raises(ValueError, match="max_updates must be > 0, got 0"):
        Budget(max_updates=0, batch=32)
    with pytest.raises(ValueError, match="batch must be > 0"):
        Budget(max_updates=10, batch=0)
    with pytest.raises(ValueError, match="unknown Budget field"):
        Budget.from_dict({"max_updates": 3, "updates": 3})


def test_audioturbo_refuses_stochastic_pairs_and_pairs_beyond_the_nfe_cap(micro_components, micro_store):
    from systems.audioturbo import AudioTurbo

    system = AudioTurbo.from_components(micro_components)
    with pytest.raises(SystemInputError, match="deterministic ODE sampler"):
        system.fit(Budget(max_updates=2, batch=4), settings={**AudioTurbo.test_settings,
                                                             "pair_sampler": "pingpong"}, store=micro_store)
    with pytest.raises(SystemInputError, match="teacher NFE, which leaves nothing"):
        system.fit(Budget(max_updates=2, batch=4, max_teacher_nfe=10), settings=AudioTurbo.test_settings,
                   store=micro_store)
    with pytest.raises(RuntimeError, match="not trained yet"):
        system.config()


def test_lafma_and_audioturbo_declare_their_budget_rule():
    from systems.audioturbo import AudioTurbo
    from systems.lafma import LAFMA

    assert AudioTurbo.trained_from == "teacher" and LAFMA.trained_from == "scratch"
    assert AudioTurbo.kind == LAFMA.kind == "accelerator"


# ---------------------------------------------------------------- SIGKILL midway, then resume

KILLED_RUN = """
import os, signal, sys
from systems.components.shared import load_components
from systems.training import Budget, ComponentStore
from systems.tasks import rectified_diffusion, flow_matching
from systems import get_system

name, components_root, store_root, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for task in (rectified_diffusion.RectifiedDiffusionTask, flow_matching.FlowMatchingTask):
    original, calls = task.loss, []
    def loss(self, batch, generator, original=original, calls=calls):
        calls.append(1)
        if len(calls) > kill_at:
            os.kill(os.getpid(), signal.SIGKILL)   # a real SIGKILL: no cleanup, no final save
        return original(self, batch, generator)
    task.loss = loss
components = load_components("micro", "cpu", store=ComponentStore(components_root), train_missing=False,
                             progress=False)
cls = get_system(name)
cls.from_components(components).fit(Budget(max_updates=6, batch=4), settings=cls.test_settings,
                                    store=ComponentStore(store_root), progress=False, checkpoint_every=2)
"""


@pytest.mark.parametrize("name", ["audioturbo", "lafma"])
def test_a_training_killed_midway_resumes_to_a_bit_identical_checkpoint(name, micro_components, micro_store,
                                                                       tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    from systems import get_system
    from systems.training import ComponentStore

    cls, budget = get_system(name), Budget(max_updates=6, batch=4)
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, name, str(micro_store.root),
                             str(tmp_path / "killed"), "5"], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    resumed = cls.from_components(micro_components)
    report = resumed.fit(budget, settings=cls.test_settings, store=ComponentStore(tmp_path / "killed"),
                         progress=False, checkpoint_every=2)
    assert report.resumed_from_update == 4 and report.updates == 6
    whole = cls.from_components(micro_components)
    whole.fit(budget, settings=cls.test_settings, store=ComponentStore(tmp_path / "whole"), progress=False,
              checkpoint_every=2)
    finals = [load_file(next((tmp_path / run).glob(f"{name}-*/final.safetensors")))
              for run in ("killed", "whole")]
    assert finals[0].keys() == finals[1].keys()
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_the_karras_sigma_draw_spans_the_sampling_grid_and_the_teacher_draw_is_edms_lognormal():
    from systems.tasks.rectified_diffusion import draw_sigma

    noise = {"p_mean": -1.2, "p_std": 1.2, "sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0}
    karras = draw_sigma(20000, torch.Generator().manual_seed(0), "karras", noise)
    assert 0.002 <= karras.min() and karras.max() <= 80.0 and (karras > 20).float().mean() > 0.1
    teacher = draw_sigma(20000, torch.Generator().manual_seed(0), "teacher", noise)
    assert teacher.log().mean().item() == pytest.approx(-1.2, abs=0.05)
    assert (teacher > 20).float().mean() < 0.001   # why "karras" is the default (systems.audioturbo)
    with pytest.raises(ValueError, match="unknown sigma distribution"):
        draw_sigma(2, torch.Generator(), "uniform", noise)


# ---------------------------------------------------------------- ARC

def test_arc_grid_is_the_logsnr_pingpong_grid():
    from systems.arc import arc_grid

    grid = arc_grid(2, 80.0)
    assert grid.tolist() == pytest.approx([80.0, math.exp((math.log(80.0) - 2.0) / 2), 0.0])
    assert arc_grid(1, 80.0).tolist() == [80.0, 0.0]
    assert (arc_grid(8, 80.0).diff() < 0).all()


def test_arc_discriminator_is_a_truncated_teacher_giving_a_sequence_of_logits(micro_components):
    from systems.tasks.arc import Discriminator

    teacher = micro_components.teacher
    disc = Discriminator(teacher, 1)
    assert len(disc.net.blocks) == 1 and len(teacher.net.blocks) == 2      # the teacher is untouched
    ours, theirs = disc.net.blocks[0].state_dict(), teacher.net.blocks[0].state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    x = torch.randn(3, 16, 64)
    cond = {"tokens": torch.randn(3, 5, 384), "mask": torch.ones(3, 5, dtype=torch.bool)}
    logits = disc(x, torch.full((3,), 2.0), cond)
    assert logits.shape == (3, 64 // 2 // 4)   # patch 2, two stride-2 convolutions
    with pytest.raises(ValueError, match="depth must be 1 … 2"):
        Discriminator(teacher, 3)


@pytest.mark.parametrize("settings, budget, words", [
    ({"disc_depth": 9}, Budget(max_updates=2, batch=4), "disc_depth must be an int in 1 … 2"),
    ({"disc_depth": 0}, Budget(max_updates=2, batch=4), "disc_depth must be an int in 1 … 2"),
    ({}, Budget(max_updates=2, batch=1), "a batch of 1 cannot be deranged"),
])
def test_arc_refuses_bad_settings_before_any_training(settings, budget, words, micro_components, tmp_path):
    from systems.arc import ARC
    from systems.training import ComponentStore

    store = ComponentStore(tmp_path / "store")
    with pytest.raises(SystemInputError, match=words):
        ARC.from_components(micro_components).fit(budget, settings=settings, store=store, progress=False)
    assert not any((tmp_path / "store").glob("arc-*/train"))   # nothing was trained


def test_arc_refuses_training_data_of_one_caption_before_any_training(micro_components, tmp_path):
    from systems.arc import ARC
    from systems.training import ComponentStore

    system = ARC.from_components(micro_components)
    data = system.training_data()
    one_caption = {**data, "captions": ["the same caption"] * len(data["captions"])}
    system.training_data = lambda: one_caption
    with pytest.raises(SystemInputError, match="at least 2 distinct captions"):
        system.fit(Budget(max_updates=2, batch=4), store=ComponentStore(tmp_path / "store"), progress=False)
    assert not any((tmp_path / "store").glob("arc-*/train/state.safetensors"))   # no update was made


def test_training_data_is_encoded_once_per_components(micro_components):
    from systems.arc import ARC
    from systems.cd import ConsistencyDistillation

    first = ARC.from_components(micro_components).training_data()
    second = ConsistencyDistillation.from_components(micro_components).training_data()
    assert first["latents"] is second["latents"] and first["captions"] == second["captions"]
    first["captions"].append("changed by one system")   # a system's own copy of the lists
    assert len(second["captions"]) == len(first["captions"]) - 1


def test_arc_training_alternates_generator_and_discriminator_updates(micro_components, tmp_path):
    import json

    from systems.arc import ARC
    from systems.training import ComponentStore

    system = ARC.from_components(micro_components)
    report = system.fit(Budget(max_updates=4, batch=4), store=ComponentStore(tmp_path / "s"), progress=False)
    assert report.updates == 4 and report.online_teacher_nfe == 0
    lines = [json.loads(line) for line in next((tmp_path / "s").glob("arc-*/train/log.jsonl")).open()]
    assert {"loss_g", "loss_adversarial", "loss_contrastive"} <= set(lines[-1])


@pytest.mark.parametrize("name, change", [("arc-no-contrastive", {"contrastive_weight": 0.0}),
                                          ("arc-lsgan", {"adversarial": "lsgan"})])
def test_arc_ablations_differ_from_arc_in_one_setting(name, change, micro_components, tmp_path):
    import json

    from systems import get_system
    from systems.arc import ARC
    from systems.training import ComponentStore

    cls = get_system(name)
    assert {**ARC.train_defaults, **change} == dict(cls.train_defaults) and cls.trained_from == "teacher"
    cls.from_components(micro_components).fit(Budget(max_updates=2, batch=4), store=ComponentStore(tmp_path),
                                              progress=False)
    last = [json.loads(line) for line in next(tmp_path.glob(f"{name}-*/train/log.jsonl")).open()][-1]
    if "contrastive_weight" in change:
        assert last["loss_contrastive"] == 0.0
    arc, store = ARC.from_components(micro_components), ComponentStore(tmp_path)
    with pytest.raises(SystemInputError, match="adversarial must be"):
        arc.fit(Budget(max_updates=2, batch=4), settings={"adversarial": "x"}, store=store)


def test_a_scalar_reported_on_alternate_updates_is_averaged_over_its_own_updates():
    from systems.training.loop import _accumulate, _empty_window

    window = _empty_window()
    for update in range(4):   # G on even updates, D on odd ones (ARC)
        _accumulate(window, 1.0, {"loss_g": 2.0} if update % 2 == 0 else {"loss_d": 4.0})
    assert window["counts"] == {"loss_g": 2, "loss_d": 2}
    legacy = {"n": 2, "loss": 2.0, "scalars": {"x": 6.0}}   # saved before per-scalar counts existed
    _accumulate(legacy, 1.0, {"x": 3.0})
    assert legacy["counts"] == {"x": 3} and legacy["scalars"]["x"] / legacy["counts"]["x"] == 3.0
