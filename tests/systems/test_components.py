"""Shared components: EDM preconditioning, DiT, text encoder, mel/Griffin-Lim, store and checkpoints."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from systems.api import SystemInputError
from systems.components.dit import DiT, DiTConfig
from systems.components.edm import EDMDenoiser, drop_condition, edm_coefficients, edm_loss
from systems.components.mel import MelConfig, MelFrontend
from systems.training.checkpoint import CheckpointError


def cond(batch=2, length=3, dim=384):
    return {"tokens": torch.randn(batch, length, dim), "mask": torch.ones(batch, length, dtype=torch.bool)}


def test_edm_coefficients_match_karras_table_1():
    sigma, sd = torch.tensor([0.5, 2.0]), 0.5
    c_skip, c_out, c_in, c_noise = edm_coefficients(sigma, sd)
    torch.testing.assert_close(c_skip, torch.tensor([0.5, 0.25 / 4.25]))
    torch.testing.assert_close(c_out, torch.tensor([0.25 / math.sqrt(0.5), 1.0 / math.sqrt(4.25)]))
    torch.testing.assert_close(c_in, torch.tensor([1 / math.sqrt(0.5), 1 / math.sqrt(4.25)]))
    torch.testing.assert_close(c_noise, sigma.log() / 4)


def test_fresh_denoiser_is_the_skip_connection():
    """adaLN-Zero and a zero output layer: F = 0 at init, so D(x, σ) = c_skip(σ) x exactly."""
    den = EDMDenoiser(DiT(DiTConfig(width=32, depth=2, heads=2, patch=2)), sigma_data=0.5)
    x, sigma = torch.randn(2, 16, 8), torch.tensor([0.3, 5.0])
    c_skip = edm_coefficients(sigma, 0.5)[0]
    torch.testing.assert_close(den(x, sigma, cond()), c_skip.view(-1, 1, 1) * x)


def test_features_are_per_block_and_patch_must_divide():
    den = EDMDenoiser(DiT(DiTConfig(width=32, depth=3, heads=2, patch=2)))
    feats = den.features(torch.randn(2, 16, 8), torch.ones(2), cond())
    assert len(feats) == 3 and feats[0].shape == (2, 4, 32)
    assert len(den.features(torch.randn(2, 16, 8), torch.ones(2), cond(), layers=[1])) == 1
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        den(torch.randn(2, 16, 7), torch.ones(2), cond())


def test_padding_tokens_are_ignored():
    torch.manual_seed(0)
    net = DiT(DiTConfig(width=32, depth=2, heads=2))
    for p in net.parameters():  # leave adaLN-Zero so the text path matters
        torch.nn.init.normal_(p, std=0.1)
    den, c = EDMDenoiser(net), cond(batch=1, length=3)
    padded = {"tokens": torch.cat([c["tokens"], torch.randn(1, 2, 384)], 1),
              "mask": torch.cat([c["mask"], torch.zeros(1, 2, dtype=torch.bool)], 1)}
    x = torch.randn(1, 16, 4)
    torch.testing.assert_close(den(x, torch.ones(1), c), den(x, torch.ones(1), padded), atol=1e-5, rtol=1e-5)


def test_edm_loss_is_finite_and_seeded():
    den = EDMDenoiser(DiT(DiTConfig(width=32, depth=1, heads=2)))
    x0 = torch.randn(4, 16, 4) * 0.5
    a = edm_loss(den, x0, cond(4), torch.Generator().manual_seed(1))
    b = edm_loss(den, x0, cond(4), torch.Generator().manual_seed(1))
    assert torch.isfinite(a) and a.item() == b.item()


def test_drop_condition_swaps_rows_for_the_null_condition():
    c, null = cond(3, 4), cond(3, 2)
    out = drop_condition(c, null, torch.tensor([False, True, False]))
    assert out["tokens"].shape == (3, 4, 384)
    torch.testing.assert_close(out["tokens"][1, :2], null["tokens"][1])
    assert out["mask"][1].tolist() == [True, True, False, False]
    torch.testing.assert_close(out["tokens"][0], c["tokens"][0])


def test_text_encoder_null_convention_and_errors(micro_components):
    text = micro_components.text
    tokens, mask = text.encode(["a dog barks", "rain"])
    assert tokens.shape[0] == 2 and tokens.shape[2] == 384 and mask.dtype == torch.bool
    assert mask[1].sum() < mask[0].sum()  # padding masked out
    null_tokens, null_mask = text.null(2)
    assert null_mask.sum(1).tolist() == [2, 2]  # "" encodes to [CLS] [SEP]
    torch.testing.assert_close(null_tokens, text._encode([""])[0].expand(2, -1, -1))
    with pytest.raises(SystemInputError, match="empty"):
        text.encode(["ok", " "])
    with pytest.raises(SystemInputError, match="too long"):
        text.encode(["word " * 100])


def test_griffin_lim_reconstructs_a_chirp():
    fe = MelFrontend(MelConfig())
    t = np.arange(32768) / 16000
    x = torch.tensor(0.3 * np.sin(2 * np.pi * 440 * t * (1 + t)), dtype=torch.float32)[None]
    y = fe.invert(fe.logmel(x))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (fe.logmel(y) - fe.logmel(x)).abs().mean() < 0.35  # natural-log mel units
    torch.testing.assert_close(y, fe.invert(fe.logmel(x)))  # deterministic (fixed initial phase)


def test_autoencoder_round_trip_shapes(micro_components):
    ae = micro_components.ae
    wav = torch.randn(2, 16000) * 0.1
    z = ae.encode(wav)
    assert z.shape == (2, ae.latent_channels, 16000 // ae.samples_per_frame)
    assert ae.latent_rate_hz == pytest.approx(31.25)
    assert ae.decode(z).shape == (2, z.shape[-1] * ae.samples_per_frame)


def test_components_are_reused_not_retrained(micro_components, micro_store):
    from systems.components.shared import load_components
    from tests.systems.conftest import micro_preset

    again = load_components(micro_preset(), store=micro_store, progress=False, train_missing=False)
    assert again.hashes == micro_components.hashes


def test_a_changed_preset_is_not_served_an_old_checkpoint(micro_components, micro_store):
    from systems.components.shared import load_components
    from tests.systems.conftest import micro_preset

    changed = micro_preset()
    changed = replace(changed, teacher=replace(changed.teacher, depth=3))
    with pytest.raises(FileNotFoundError, match="no trained teacher"):
        load_components(changed, store=micro_store, progress=False, train_missing=False)


def test_checkpoint_of_another_config_is_refused(micro_components, micro_store):
    from systems.components.shared import load_teacher
    from tests.systems.conftest import micro_preset

    preset = micro_preset()
    path = micro_store.root / micro_components.hashes["teacher"] / "final.safetensors"
    key = preset.teacher_key(micro_components.text.config())
    other = replace(preset, teacher=replace(preset.teacher, width=64))
    with pytest.raises(CheckpointError, match="width"):
        load_teacher(other, path, other.teacher_key(micro_components.text.config()))
    load_teacher(preset, path, key)  # the right config loads


def test_corrupt_checkpoint_is_a_clear_error(micro_components, micro_store, tmp_path):
    from systems.components.shared import load_teacher
    from tests.systems.conftest import micro_preset

    preset = micro_preset()
    source = micro_store.root / micro_components.hashes["teacher"] / "final.safetensors"
    broken = tmp_path / "final.safetensors"
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_teacher(preset, broken, preset.teacher_key(micro_components.text.config()))


def test_training_is_reproducible_across_stores(micro_components, tmp_path):
    """Same preset ⇒ bitwise-identical weights, whatever the RNG was used for before."""
    from systems.components.shared import load_components
    from systems.training.store import ComponentStore
    from tests.systems.conftest import micro_preset

    torch.manual_seed(12345)  # disturb the global RNG: initialisation must not depend on it
    again = load_components(micro_preset(), store=ComponentStore(tmp_path / "other"), progress=False)
    for name, tensor in micro_components.teacher.state_dict().items():
        assert torch.equal(tensor, again.teacher.state_dict()[name]), name
