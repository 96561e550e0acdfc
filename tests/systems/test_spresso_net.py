"""S-PRESSO's networks: RoPE, the latent encoder g_ψ (shapes, last-run padding, z rate), the projector
f_φ, LoRA, and the conditioned DiT (the teacher at init for every z, the condition reaching the output
once trained, which parameters train, the teacher untouched, clear errors, gradients)."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from systems.api import SystemInputError
from systems.components.dit import DiT, DiTConfig
from systems.components.edm import EDMDenoiser, edm_loss
from systems.components.guided_dit import GuidedDiT
from systems.components.spresso_net import (
    ConditionProjector,
    LatentEncoder,
    LoRALinear,
    SPressoDiT,
    apply_rope,
    rope_angles,
    spresso_from_teacher,
)

CFG = DiTConfig(in_channels=16, width=32, depth=2, heads=2, text_dim=8, fourier_dim=8, patch=2)
FRAMES = 64
TIME_FACTORS = (4, 8, 16, 31)


def random_teacher(seed: int = 0) -> EDMDenoiser:
    """A teacher-shaped denoiser with every weight random (a fresh DiT predicts 0: too easy a test)."""
    teacher = EDMDenoiser(DiT(CFG), sigma_data=0.5)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in teacher.parameters():
            param.copy_(0.3 * torch.randn(param.shape, generator=generator))
    return teacher.eval().requires_grad_(False)


def text(b: int, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, 3, dtype=torch.bool)
    mask[:, -1] = False
    return {"tokens": torch.randn(b, 3, CFG.text_dim, generator=generator), "mask": mask}


def randn(*shape: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


SIGMA = torch.tensor([0.01, 0.5, 3.0, 80.0])


def student_and_teacher(time_factor: int = 8, **settings):
    torch.manual_seed(0)
    teacher = random_teacher()
    return spresso_from_teacher(teacher, time_factor=time_factor, **settings), teacher


def perturb(module: torch.nn.Module, seed: int = 3) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(0.3 * torch.randn(param.shape, generator=generator))


# ---------------------------------------------------------------- RoPE

def test_rope_is_a_rotation_and_relative():
    q, k = randn(1, 16, seed=4), randn(1, 16, seed=5)
    angles = rope_angles(torch.arange(40), 16)
    x = randn(40, 16, seed=6)
    assert torch.allclose(apply_rope(x, angles).norm(dim=-1), x.norm(dim=-1), atol=1e-5)

    def logit(m: int, n: int) -> torch.Tensor:
        return (apply_rope(q, angles[m:m + 1]) * apply_rope(k, angles[n:n + 1])).sum()

    for m, n, shift in ((0, 3, 7), (5, 2, 30), (9, 9, 11)):
        assert torch.allclose(logit(m, n), logit(m + shift, n + shift), atol=1e-5)
    assert not torch.allclose(logit(0, 3), logit(0, 5), atol=1e-3)   # but it does see the difference


# ---------------------------------------------------------------- g_ψ and f_φ

@pytest.mark.parametrize("time_factor", TIME_FACTORS)
def test_the_encoder_gives_ceil_frames_and_the_projector_returns_exactly_f(time_factor):
    encoder = LatentEncoder(16, time_factor, channel_factor=2)
    z = encoder(randn(3, 16, FRAMES))
    assert z.shape == (3, 8, math.ceil(FRAMES / time_factor)) == (3, 8, encoder.z_frames(FRAMES))
    projector = ConditionProjector(8, 12, time_factor)
    cond = projector(z, FRAMES)
    assert cond.shape == (3, 12, FRAMES)
    per_z = projector.proj(z.transpose(1, 2)).transpose(1, 2)      # nearest: frame j reads z frame ⌊j/t⌋
    assert torch.equal(cond, per_z[..., torch.arange(FRAMES) // time_factor])


def test_a_last_partial_run_repeats_the_last_frame_and_any_length_encodes():
    frames = torch.arange(64, dtype=torch.float32).view(1, 1, 64)
    pooled = LatentEncoder(16, 31).pool(frames)
    assert torch.allclose(pooled, torch.tensor([[[15.0, 46.0, (62 + 63 * 30) / 31]]]))
    assert torch.equal(LatentEncoder(16, 8).pool(frames), frames.view(1, 1, 8, 8).mean(-1))
    assert LatentEncoder(16, 8)(randn(1, 16, 50)).shape == (1, 8, 7)


def test_the_z_rate():
    assert LatentEncoder(16, 8).z_rate_hz(31.25) == pytest.approx(3.90625)
    assert [LatentEncoder(16, t).z_rate_hz(31.25) for t in TIME_FACTORS] == pytest.approx(
        [7.8125, 3.90625, 1.953125, 31.25 / 31])


def test_bad_encoder_settings_are_clear_errors():
    with pytest.raises(SystemInputError, match="channel_factor 3 must divide the 16 latent channels"):
        LatentEncoder(16, 8, channel_factor=3)
    with pytest.raises(SystemInputError, match="time_factor must be an integer >= 1"):
        LatentEncoder(16, 0)
    with pytest.raises(SystemInputError, match="heads of even size"):
        LatentEncoder(16, 8, width=36, heads=4)
    with pytest.raises(SystemInputError, match=r"takes latents \[B, 16, F\]"):
        LatentEncoder(16, 8)(randn(1, 8, 64))
    with pytest.raises(SystemInputError, match="lora_modules must be a non-empty subset"):
        SPressoDiT(CFG, time_factor=8, lora_modules=("ffn",))
    with pytest.raises(SystemInputError, match="rank must be an integer >= 1"):
        SPressoDiT(CFG, time_factor=8, rank=0)


# ---------------------------------------------------------------- LoRA

def test_lora_starts_as_its_base_and_merging_keeps_the_function():
    base = torch.nn.Linear(12, 6)
    lora = LoRALinear(12, 6, rank=4, alpha=8.0)
    lora.load_state_dict(base.state_dict(), strict=False)
    x = randn(5, 12)
    assert torch.equal(lora(x), base(x))
    with torch.no_grad():
        lora.lora_b.normal_()
    adapted = lora(x)
    assert (adapted - base(x)).abs().max() > 1e-2
    lora.merge()
    assert torch.allclose(lora(x), adapted, atol=1e-5) and not lora.lora_b.any()


# ---------------------------------------------------------------- the conditioned DiT

def test_at_init_the_student_is_the_teacher_exactly_for_every_condition():
    student, teacher = student_and_teacher()
    x = randn(4, 16, FRAMES) + randn(4, 16, FRAMES, seed=7)
    expected, expected_feats = teacher.net(x, SIGMA.log() / 4, **text(4), return_features=True)
    for z in (student.net.encode(x), 100.0 * randn(4, 8, 8, seed=8), torch.zeros(4, 8, 8)):
        cond = {**text(4), "audio_cond": z}
        assert torch.equal(student(x, SIGMA, cond), teacher(x, SIGMA, text(4)))
        y, feats = student.net(x, SIGMA.log() / 4, **text(4), return_features=True, audio_cond=z)
        assert torch.equal(y, expected) and all(torch.equal(a, b) for a, b in zip(feats, expected_feats))
        assert torch.equal(student.net.trunk(x, SIGMA.log() / 4, **text(4), depth=1, audio_cond=z),
                           teacher.net.trunk(x, SIGMA.log() / 4, **text(4), depth=1))


def test_once_the_zero_inits_move_the_condition_reaches_the_output():
    student, teacher = student_and_teacher()
    x = randn(4, 16, FRAMES)
    with torch.no_grad():
        student.net.inp.audio.weight.normal_()
    outputs = [student(x, SIGMA, {**text(4), "audio_cond": randn(4, 8, 8, seed=s)}) for s in (8, 9)]
    assert (outputs[0] - outputs[1]).abs().max() > 1e-3
    assert (outputs[0] - teacher(x, SIGMA, text(4))).abs().max() > 1e-3


TRAINABLE_BLOCK = [f"blocks.{i}.{attn}.{lin}.{ab}" for i in range(CFG.depth)
                   for attn in ("self_attn", "cross_attn") for lin in ("q", "kv", "out")
                   for ab in ("lora_a", "lora_b")] + [
    f"blocks.{i}.mlp.{j}.{ab}" for i in range(CFG.depth) for j in (0, 2) for ab in ("lora_a", "lora_b")]


def test_only_the_encoder_projector_audio_input_and_lora_train():
    student, _ = student_and_teacher()
    net = student.net
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    others = {name for name in trainable if not name.startswith(("encoder.", "projector."))}
    assert others == {"inp.audio.weight", "inp.audio.bias", *TRAINABLE_BLOCK}
    assert {n for n in trainable if n.startswith("projector.")} == {"projector.proj.weight",
                                                                      "projector.proj.bias"}
    assert any(n.startswith("encoder.blocks.1.attn.qkv") for n in trainable)
    in_order = [id(p) for n, p in net.named_parameters() if n in trainable]
    assert [id(p) for p in net.trainable_parameters()] == in_order
    counts = net.parameter_counts()
    assert counts["trainable"] == sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert counts["frozen"] == sum(p.numel() for p in DiT(CFG).parameters())
    assert counts["lora"] == sum(p.numel() for n, p in net.named_parameters() if "lora_" in n)
    net.requires_grad_(True)      # a task may unfreeze everything; freeze_base restores the split
    assert {n for n, p in net.freeze_base().named_parameters() if p.requires_grad} == trainable


def test_the_teacher_is_not_modified():
    teacher = random_teacher()
    teacher.net.blocks[0].mlp.requires_grad_(True)     # a mixed trainable state must survive as is
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    flags = {n: p.requires_grad for n, p in teacher.named_parameters()}
    student = spresso_from_teacher(teacher, time_factor=8)
    with torch.no_grad():        # the copy owns its weights: changing them leaves the teacher's alone
        for param in student.parameters():
            param.add_(1.0)
    assert set(teacher.state_dict()) == set(before)
    assert all(torch.equal(teacher.state_dict()[k], v) for k, v in before.items())
    assert {n: p.requires_grad for n, p in teacher.named_parameters()} == flags
    assert type(teacher.net) is DiT and type(teacher.net.inp) is torch.nn.Linear


def test_the_teacher_may_be_the_bare_dit_but_not_a_student():
    teacher = random_teacher()
    student = spresso_from_teacher(teacher.net, time_factor=4, rank=2, lora_alpha=2.0)
    assert student.sigma_data == 0.5 and student.net.config()["rank"] == 2
    with pytest.raises(RuntimeError, match="do not fit SPressoDiT"):
        spresso_from_teacher(EDMDenoiser(GuidedDiT(CFG)), time_factor=8)
    with pytest.raises(SystemInputError, match="needs the teacher's DiT"):
        spresso_from_teacher(torch.nn.Linear(2, 2), time_factor=8)


def test_a_missing_or_misshapen_condition_is_a_clear_error():
    student, teacher = student_and_teacher()
    x = randn(2, 16, FRAMES)
    sigma = torch.ones(2)
    with pytest.raises(SystemInputError, match=r"needs the audio condition: put 'audio_cond'.*\(2, 8, 8\)"):
        student(x, sigma, text(2))
    with pytest.raises(SystemInputError, match="needs the audio condition"):
        student.net.trunk(x, sigma, **text(2), depth=1)
    for wrong in (randn(2, 8, 7), randn(2, 16, 8), randn(3, 8, 8), randn(8, 8)):
        with pytest.raises(SystemInputError, match=r"must be z of shape \[B, d_z, ⌈F/t⌉\] = \(2, 8, 8\)"):
            student(x, sigma, {**text(2), "audio_cond": wrong})
    with pytest.raises(SystemInputError, match="multiple of the patch size 2"):
        student(randn(2, 16, 63), sigma, {**text(2), "audio_cond": randn(2, 8, 8)})
    with pytest.raises(TypeError, match="takes no extra conditioning"):   # the teacher refuses a z
        teacher(x, sigma, {**text(2), "audio_cond": randn(2, 8, 8)})
    with pytest.raises(RuntimeError, match="runs only inside SPressoDiT"):
        student.net.inp(randn(2, 32, 32))


def test_gradients_reach_the_encoder_projector_audio_input_and_lora_through_the_diffusion_loss():
    student, _ = student_and_teacher(time_factor=16)
    net = student.net
    x0 = randn(4, 16, FRAMES)
    optimizer = torch.optim.Adam(net.trainable_parameters(), lr=1e-2)

    def grads() -> dict[str, torch.Tensor | None]:
        optimizer.zero_grad(set_to_none=True)
        cond = {**text(4), "audio_cond": net.encode(x0)}     # z keeps its graph: g_ψ trains too
        edm_loss(student, x0, cond, torch.Generator().manual_seed(0)).backward()
        return {name: p.grad for name, p in net.named_parameters()}

    first = grads()   # zero inits: only the outer factors (the audio input, LoRA's B) move at step 1
    assert all(first[n].abs().sum() > 0 for n in ("inp.audio.weight", "blocks.0.self_attn.q.lora_b"))
    assert first["encoder.to_z.weight"].abs().sum() == 0 and first["blocks.0.mlp.0.lora_a"].abs().sum() == 0
    optimizer.step()
    second = grads()
    for name, param in net.named_parameters():
        if param.requires_grad:
            assert second[name] is not None and second[name].abs().sum() > 0, name
        else:
            assert second[name] is None, name


def test_the_config_names_every_setting():
    student, _ = student_and_teacher(time_factor=31, channel_factor=4, cond_channels=6)
    config = student.net.config()
    assert config["dit"] == CFG.to_dict()
    assert {k: config[k] for k in ("time_factor", "channel_factor", "z_channels", "cond_channels", "rank",
                                   "lora_alpha", "encoder_width", "encoder_depth", "encoder_heads")} == {
        "time_factor": 31, "channel_factor": 4, "z_channels": 4, "cond_channels": 6, "rank": 4,
        "lora_alpha": 4.0, "encoder_width": 64, "encoder_depth": 2, "encoder_heads": 4}
    x = randn(2, 16, FRAMES)
    z = student.net.encode(x)
    assert z.shape == (2, 4, 3) and student(x, torch.ones(2), {**text(2), "audio_cond": z}).shape == x.shape


def test_a_copy_and_a_rebuild_from_the_config_compute_the_same():
    student, _ = student_and_teacher(time_factor=16, rank=2)
    perturb(student)
    x = randn(2, 16, FRAMES)
    cond = {**text(2), "audio_cond": randn(2, 8, 4)}
    rebuilt = EDMDenoiser(SPressoDiT.from_config(student.net.config()))
    rebuilt.load_state_dict(student.state_dict())      # strict: the config fixes every shape
    assert torch.equal(rebuilt(x, SIGMA[:2], cond), student(x, SIGMA[:2], cond))
    assert torch.equal(copy.deepcopy(student)(x, SIGMA[:2], cond), student(x, SIGMA[:2], cond))
    assert rebuilt.net.config() == student.net.config()


def test_merging_lora_keeps_the_function_and_zeroes_the_adapters():
    student, _ = student_and_teacher()
    perturb(student)
    x, cond = randn(2, 16, FRAMES), {**text(2), "audio_cond": randn(2, 8, 8)}
    before = student(x, SIGMA[:2], cond)
    student.net.merge_lora()
    assert torch.allclose(student(x, SIGMA[:2], cond), before, atol=1e-4)
    assert not any(p.any() for n, p in student.net.named_parameters() if n.endswith("lora_b"))
