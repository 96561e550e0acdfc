"""``spresso`` at the micro preset: the stage-1/3 task (what trains, the teacher frozen), encode → decode
(shapes, rates, exact payload sizes, the codec contract), the stochastic seeded decoder, stage 1 shared
by the quantiser variants, the continuous fp16 round trip, clear errors for bad inputs, and a second fit
that reuses the store without training."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from systems.api import SystemInputError
from systems.components.spresso_net import is_adapter
from systems.quantizers.base import VectorQuantizer
from systems.quantizers.payload import HEADER_BYTES, bit_counts
from systems.spresso import SPresso
from systems.spresso_payload import Float16Payload, op_point_id
from systems.spresso_stages import new_network, stage1_key
from systems.tasks.spresso import SPressoTask, frames_of, from_frames, stage_parameters
from systems.training import Budget, ComponentStore
from tests.systems import contract

BUDGET = Budget(max_updates=12, batch=8)
SETTINGS = dict(SPresso.test_settings)
FULL_SETTINGS = {**SPresso.train_defaults, **SETTINGS}
OP_POINT = {"codebook_size": 16}        # K = 16: M·log2 K = 16 bits per z frame, fast micro fits


def build(components, **config):
    return SPresso.from_components(components, **{**OP_POINT, **config})


@pytest.fixture(scope="module")
def fitted(micro_components, micro_store):
    """``fitted[quantizer]``: the codec fitted on the micro store, for "none", "rvq" and "qinco2"; and
    ``fitted["regression"]``: QINCo2's codes with the regression decoder (the ablation)."""
    systems = {}
    for name, config in (("none", {"quantizer": "none"}), ("rvq", {"quantizer": "rvq"}),
                         ("qinco2", {"quantizer": "qinco2"}), ("regression", {"decoder": "regression"})):
        system = build(micro_components, **config)
        system.fit(BUDGET, settings=SETTINGS, store=micro_store, progress=False)
        systems[name] = system
    return systems


def audio_clips(codec, n: int = 3, duration_s: float = 1.0) -> np.ndarray:
    return contract.clips(codec, n, duration_s)


# ---------------------------------------------------------------- the task

def test_stage_1_trains_encoder_projector_input_and_lora_and_stage_3_all_but_the_encoder(micro_components):
    net = new_network(build(micro_components), FULL_SETTINGS).net
    stage1 = {id(p) for p in stage_parameters(net, 1)}
    names = {id(p): n for n, p in net.named_parameters()}
    assert {names[i] for i in stage1} == {n for n, _ in net.named_parameters() if is_adapter(n)}
    stage3 = {names[id(p)] for p in stage_parameters(net, 3)}
    assert stage3 and not any(n.startswith("encoder.") for n in stage3)
    assert {n for n, p in net.named_parameters() if p.requires_grad} == stage3
    assert any(n.startswith("projector.") for n in stage3) and any("lora_b" in n for n in stage3)
    with pytest.raises(ValueError, match="stage 2 is the offline quantiser fit"):
        stage_parameters(net, 2)


def test_the_task_optimises_only_its_stage_and_drops_text_with_p_txt(micro_components):
    system = build(micro_components)
    denoiser = new_network(system, FULL_SETTINGS)
    settings = {"lr": 1e-3, "p_txt": 1.0, "seed": 0, "p_mean": -1.2, "p_std": 1.2}
    task = SPressoTask("t", {}, denoiser, system.training_data(), settings, 4, stage=1)
    assert sum(p.numel() for g in task.make_optimizer().param_groups for p in g["params"]) == \
        denoiser.net.parameter_counts()["trainable"]
    loss, scalars, nfe = task.loss(task.batch(0), torch.Generator().manual_seed(0))
    loss.backward()
    assert nfe == 0 and scalars["dropped"] == 1.0 and math.isfinite(float(loss.detach()))
    assert all(p.grad is None for n, p in denoiser.net.named_parameters() if not is_adapter(n))
    assert denoiser.net.encoder.to_z.weight.grad is not None   # the gradient reaches g_ψ in stage 1
    with pytest.raises(ValueError, match="stage 3 needs the fitted quantiser"):
        SPressoTask("t", {}, denoiser, system.training_data(), settings, 4, stage=3)


def test_frames_round_trip():
    z = torch.randn(3, 8, 5)
    vectors = frames_of(z)
    assert vectors.shape == (15, 8) and torch.equal(vectors[5], z[1, :, 0])
    assert torch.equal(from_frames(vectors, 3), z)


# ---------------------------------------------------------------- training: stages, store, record

def test_stage_1_is_shared_by_every_quantiser_and_code_size_of_one_operating_point(fitted, micro_components):
    stages = {q: fitted[q].training_record()["stages"] for q in fitted}
    assert stages["none"]["1"]["store"] == stages["rvq"]["1"]["store"] == stages["qinco2"]["1"]["store"]
    assert stages["rvq"]["2"]["store"] != stages["qinco2"]["2"]["store"]
    assert stages["rvq"]["2"]["quantizer"] == "rvq" and stages["qinco2"]["2"]["quantizer"] == "qinco2"
    assert stages["rvq"]["3"]["store"] != stages["qinco2"]["3"]["store"] and "2" not in stages["none"]
    other_code = build(micro_components, quantizer="rvq", codebook_steps=2, codebook_size=256)
    assert stage1_key(other_code, FULL_SETTINGS) == stage1_key(fitted["qinco2"], FULL_SETTINGS)
    assert stage1_key(build(micro_components, time_factor=16), FULL_SETTINGS) != \
        stage1_key(other_code, FULL_SETTINGS)
    # stage 3 froze g_ψ (same encoder as stage 1) and moved f_φ
    nets = {q: fitted[q]._fitted.denoiser.net for q in ("none", "qinco2")}
    for name, value in nets["none"].encoder.state_dict().items():
        assert torch.equal(value, nets["qinco2"].encoder.state_dict()[name]), name
    assert not torch.equal(nets["none"].projector.proj.weight, nets["qinco2"].projector.proj.weight)


def test_the_teachers_weights_are_untouched(fitted, micro_components):
    teacher = micro_components.teacher.state_dict()
    for name, value in fitted["qinco2"]._fitted.denoiser.state_dict().items():
        if not is_adapter(name.removeprefix("net.")):
            assert torch.equal(value, teacher[name]), name


def test_the_training_record_has_every_stage_the_sanity_checks_and_the_deviations(fitted):
    record = fitted["qinco2"].training_record()
    stage1, stage2, stage3 = (record["stages"][k] for k in ("1", "2", "3"))
    assert stage1["updates"] == 12 and stage3["updates"] == 4   # a third of stage 1's updates
    assert record["updates"] == 16 and record["batch"] == 8 and record["examples_seen"] == 16 * 8
    assert len(stage2["train_mse_per_step"]) == 4 and stage2["wall_s"] > 0 and stage2["z_variance"] > 0
    assert stage2["train_mse_per_step"] == sorted(stage2["train_mse_per_step"], reverse=True)
    assert stage2["n_vectors"] == stage2["n_clips"] * stage2["z_frames_per_clip"]
    for stage in ("1", "3"):
        sanity = record["sanity"][stage]
        assert sanity["quantised"] == (stage == "3") and sanity["split"] == "sfx/test"
        assert sanity["condition_used"] == (sanity["spresso_mse"] < sanity["teacher_unconditional_mse"])
    assert record["deviations"] and record["trained_from"] == "teacher"
    assert fitted["none"].training_record()["updates"] == 12


def test_a_second_fit_reuses_the_store_without_training(fitted, micro_components, micro_store, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr("systems.training.fit.train", refuse)
    monkeypatch.setattr(VectorQuantizer, "fit", refuse)
    again = build(micro_components, quantizer="qinco2")
    report = again.fit(BUDGET, settings=SETTINGS, store=micro_store, progress=False)
    assert report.updates == 16 and again.config() == fitted["qinco2"].config()
    encoded = again.encode(audio_clips(again, n=1))
    np.testing.assert_array_equal(again.decode(encoded, steps=2), fitted["qinco2"].decode(encoded, steps=2))


def test_the_regression_decoder_reads_the_same_codes_deterministically(fitted):
    diffusion, regression = fitted["qinco2"], fitted["regression"]
    record = regression.training_record()
    assert set(record["stages"]) == {"1", "2", "r"}
    assert record["stages"]["1"]["store"] == diffusion.training_record()["stages"]["1"]["store"]
    assert record["stages"]["2"]["store"] == diffusion.training_record()["stages"]["2"]["store"]
    assert record["stages"]["r"]["updates"] == 12 + 4   # the decoder updates of stages 1 and 3
    sanity = record["sanity"]["r"]
    assert sanity["beats_zeros"] == (sanity["regression_mse"] < sanity["x0_power"])
    audio = audio_clips(diffusion, n=2)
    encoded = diffusion.encode(audio)
    assert regression.encode(audio).codes == encoded.codes   # the same payload, byte for byte
    decoded = regression.decode(encoded, seed=0)             # a diffusion codec's payload decodes here
    assert decoded.shape == audio.shape and np.isfinite(decoded).all()
    np.testing.assert_array_equal(decoded, regression.decode(encoded, seed=5))
    assert regression.stochastic is False and diffusion.stochastic is True
    assert regression.config()["decoder"] == "regression" and "decode_steps" not in regression.config()
    with pytest.raises(SystemInputError, match="regression decoder .* takes no steps"):
        regression.decode(encoded, steps=2)


# ---------------------------------------------------------------- the codec

@pytest.mark.parametrize("check", contract.CODEC_CHECKS, ids=lambda c: c.__name__)
def test_the_fitted_codec_passes_the_codec_contract(fitted, micro_components, check):
    check(fitted["qinco2"], micro_components)


@pytest.mark.parametrize("quantizer, bits_per_frame", [("qinco2", 4 * 4), ("rvq", 4 * 4), ("none", 8 * 16)])
def test_payload_sizes_and_rates_are_exact(fitted, quantizer, bits_per_frame):
    codec = fitted[quantizer]
    audio = audio_clips(codec)
    encoded = codec.encode(audio)
    z_frames = math.ceil(32 / codec.time_factor)   # 1 s: 16 000 samples → 32 latent frames (whole patches)
    for data in encoded.codes:
        counts = bit_counts(data)
        assert counts["code_bits"] == z_frames * bits_per_frame
        assert len(data) == HEADER_BYTES + math.ceil(z_frames * bits_per_frame / 8)
        assert encoded.payload_bits == 8 * len(data)
    assert encoded.bitrate_kbps == pytest.approx(8 * len(encoded.codes[0]) / 1.0 / 1000)
    assert codec.bitrate_kbps() == pytest.approx(31.25 / codec.time_factor * bits_per_frame / 1000)
    assert encoded.frame_rate_hz == pytest.approx(31.25 / codec.time_factor)
    decoded = codec.decode(encoded, steps=2)
    assert decoded.shape == audio.shape and decoded.dtype == np.float32 and np.isfinite(decoded).all()


def test_decoding_is_seeded_per_clip_and_varies_across_seeds(fitted):
    codec = fitted["qinco2"]
    encoded = codec.encode(audio_clips(codec, n=2))
    first = codec.decode(encoded, steps=2, seed=3)
    np.testing.assert_array_equal(first, codec.decode(encoded, steps=2, seed=3))
    assert not np.allclose(first, codec.decode(encoded, steps=2, seed=4))
    alone = codec.decode(dataclasses.replace(encoded, codes=encoded.codes[1:]), steps=2, seed=3)
    np.testing.assert_allclose(alone[0], first[1], atol=1e-4)   # a clip's noise is its own


def test_the_continuous_variant_round_trips_z_as_fp16_exactly(fitted):
    codec = fitted["none"]
    audio = audio_clips(codec)
    encoded = codec.encode(audio)
    with torch.no_grad():
        z = codec._fitted.denoiser.net.encode(codec.latents(audio))
    unpacked = codec.payload.from_bytes(encoded.codes, audio.shape[1], z.shape[2])
    assert torch.equal(unpacked, z.half().float())
    payload = Float16Payload(4, "spresso-test")
    values = torch.tensor([0.0, -1.5, 65504.0, 1e-3, -2.0**-24, 3.14159, 7.0, -0.25, 1e-8, 2.0, -3.0, 0.1])
    values = values.reshape(1, 4, 3)
    assert torch.equal(payload.from_bytes(payload.to_bytes(values, 7), 7, 3), values.half().float())
    with pytest.raises(SystemInputError, match="fp16's range"):
        payload.to_bytes(torch.full((1, 4, 3), 1e6), 7)


def test_the_op_point_names_the_operating_point_and_the_weights():
    assert op_point_id(8, 2, "qinco2", 4, 64, "0123456789abcdef") == "spresso-t8c2-qinco2-m4k64-01234567"
    assert op_point_id(32, 2, "none", 4, 64, "fedcba9876543210") == "spresso-t32c2-fp16-fedcba98"


# ---------------------------------------------------------------- clear errors

@pytest.mark.parametrize("make, words", [
    (lambda a: a[:, None].repeat(2, axis=1), r"mono clips \[B, n\].*mix down"),
    (lambda a: a[0], r"add the batch axis"),
    (lambda a: a[:, :0], "empty audio"),
    (lambda a: a[:0], "empty audio"),
    (lambda a: np.where(np.arange(a.shape[1]) == 5, np.nan, a), r"clips \[0, 1\] contain NaN"),
])
def test_bad_audio_is_refused(fitted, make, words):
    codec = fitted["qinco2"]
    with pytest.raises(SystemInputError, match=words):
        codec.encode(make(audio_clips(codec, n=2)))


def test_other_sample_rates_are_refused(fitted):
    codec = fitted["qinco2"]
    audio = audio_clips(codec, n=1)
    with pytest.raises(SystemInputError, match="16000 Hz .* got 44100 Hz; resample"):
        codec.encode(audio, sample_rate=44100)
    encoded = codec.encode(audio)
    with pytest.raises(SystemInputError, match="payload is at 8000 Hz"):
        codec.decode(dataclasses.replace(encoded, sample_rate=8000), steps=2)


def test_payloads_of_another_operating_point_or_damaged_ones_are_refused(fitted):
    audio = audio_clips(fitted["rvq"], n=1)
    theirs = fitted["rvq"].encode(audio)
    codec = fitted["qinco2"]
    with pytest.raises(SystemInputError, match="another operating point"):
        codec.decode(theirs, steps=2)
    with pytest.raises(SystemInputError, match="cannot be decoded"):
        fitted["none"].decode(theirs, steps=2)
    mine = codec.encode(audio)
    data = bytearray(mine.codes[0])
    data[-1] ^= 0x01
    with pytest.raises(SystemInputError, match="corrupted: CRC32 mismatch"):
        codec.decode(dataclasses.replace(mine, codes=(bytes(data),)), steps=2)
    with pytest.raises(SystemInputError, match="truncated"):
        codec.decode(dataclasses.replace(mine, codes=(mine.codes[0][:-2],)), steps=2)
    with pytest.raises(SystemInputError, match="keep each payload with the Encoded"):
        codec.decode(dataclasses.replace(mine, num_samples=mine.num_samples * 2), steps=2)
    with pytest.raises(SystemInputError, match="expected the payload bytes"):
        codec.decode(dataclasses.replace(mine, codes=("text",)), steps=2)
    with pytest.raises(SystemInputError, match="no per-clip payload"):
        codec.decode(dataclasses.replace(mine, codes=()), steps=2)


def test_encoding_or_decoding_before_fit_is_refused(fitted, micro_components):
    encoded = fitted["qinco2"].encode(audio_clips(fitted["qinco2"], n=1))
    fresh = build(micro_components)
    for call in (lambda: fresh.encode(audio_clips(fresh, n=1)), lambda: fresh.decode(encoded),
                 lambda: fresh.config()):
        with pytest.raises(SystemInputError, match="not trained yet: call fit"):
            call()
    assert fresh.training_record() == {}
    assert fresh.bitrate_kbps() == pytest.approx(31.25 / 8 * 16 / 1000)   # nominal: known before fit


@pytest.mark.parametrize("config, words", [
    ({"quantizer": "pq"}, "quantizer must be one of"),
    ({"codebook_size": 60}, "power of 2"),
    ({"time_factor": 0}, "time_factor must be an integer >= 1"),
    ({"channel_factor": 3}, "must divide the 16 latent channels"),
    ({"codebook_steps": 256}, "at most 255 codes"),
    ({"decode_steps": 0}, "steps must be an integer >= 1"),
    ({"decoder": "gan"}, "decoder must be one of"),
    ({"bitrate_kbps": 1.0}, "does not understand option"),
])
def test_bad_operating_points_are_refused(micro_components, config, words):
    with pytest.raises(SystemInputError, match=words):
        SPresso.from_components(micro_components, **config)


@pytest.mark.parametrize("settings, budget, words", [
    ({"p_txt": 1.5}, BUDGET, "p_txt is a probability"),
    ({"lr": 0.0}, BUDGET, "lr must be > 0"),
    ({"encoder_heads": 3}, BUDGET, "must split into 3 heads"),
    ({"quantizer_epochs": -1}, BUDGET, "quantizer_epochs must be an int >= 0"),
    ({"no_such_setting": 1}, BUDGET, "no training setting"),
    ({}, Budget(max_updates=2), "names no batch size"),
])
def test_bad_training_settings_are_refused_before_any_training(micro_components, tmp_path, settings, budget,
                                                               words):
    with pytest.raises(SystemInputError, match=words):
        build(micro_components).fit(budget, settings=settings, store=ComponentStore(tmp_path), progress=False)
    assert not any(tmp_path.glob("spresso-*"))


def test_decode_refuses_bad_steps_and_seeds(fitted):
    codec = fitted["qinco2"]
    encoded = codec.encode(audio_clips(codec, n=1))
    with pytest.raises(SystemInputError, match="steps must be an integer >= 1"):
        codec.decode(encoded, steps=0)
    with pytest.raises(SystemInputError, match="seed must be an integer >= 0"):
        codec.decode(encoded, steps=2, seed=-1)
