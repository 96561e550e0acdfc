"""The system contract as checks: one function per rule, run by ``test_contract.py`` over every
registered system of each kind, and over the test doubles of ``fakes.py``.

A check takes a system built with ``from_components`` on the micro components, and the
components; it raises ``AssertionError`` (or lets a wrong exception escape) when the system
breaks the rule. Generators run at their own declared ``info.test_steps`` with their default
sampler; a stochastic sampler is only used when the system offers one.
"""
from __future__ import annotations

import importlib.util
import json
import math
import re

import numpy as np
import pytest
import torch

from common.audio_io import resample
from common.registry import UnknownNameError
from common.sfx.dataset import make_items, render_item
from common.sfx.synth import MIN_CLIP_S
from systems import get_system, system_table
from systems.api import Accelerator, Codec, GenRequest, SystemInputError, check_guidance
from systems.noise import initial_noise
from systems.samplers import get_sampler
from systems.training import Budget, TrainReport

PROMPTS = ("a loud high-pitched tone starting early", "quiet low rumble of an engine, repeating slowly",
           "a short noise burst")
SEEDS = (0, 1, 2)


def registered(kind: type) -> list[str]:
    """Names of the registered systems (built-in and entry points) that are a ``kind``."""
    return sorted(name for name in system_table() if issubclass(get_system(name), kind))


def missing_requirements(cls) -> list[str]:
    """The optional modules (``cls.requires``, pip extras) that are not installed here."""
    return [module for module in cls.requires if importlib.util.find_spec(module) is None]


def build(cls, components):
    """``cls`` from ``components`` at its declared ``test_config``; skipped (with the reason) when an
    optional package it needs is not installed."""
    missing = missing_requirements(cls)
    if missing:
        pytest.skip(f"{cls.info.name} needs {missing} (a pip extra: see pyproject.toml), not installed here")
    return cls.from_components(components, **dict(cls.test_config))


def generate(system, prompts=PROMPTS, seeds=SEEDS, **kw):
    kw.setdefault("steps", system.info.test_steps)
    return system.generate(GenRequest(prompts=prompts, seeds=seeds, **kw))


def samplers_to_check(system) -> list[str | None]:
    """The default sampler (None) plus every stochastic sampler the system offers (a system whose
    samplers are not the project's, e.g. a diffusers scheduler, lists its ``stochastic_samplers``)."""
    own = getattr(system, "stochastic_samplers", None)
    stochastic = own if own is not None else [n for n in system.info.samplers if get_sampler(n).stochastic]
    return [None, *(name for name in stochastic if name != system.sampler)]


def check_common_declarations(system, kind: str) -> None:
    assert system.kind == kind
    assert isinstance(system.sample_rate, int) and system.sample_rate > 0
    config = system.cache_config()
    assert config["system"] == system.info.name and config == system.cache_config()
    json.dumps(config)  # JSON-able: it is hashed into cache keys and written into results


# ---------------------------------------------------------------- generators (and accelerators)


def declares_the_generator_contract(system, components) -> None:
    check_common_declarations(system, "accelerator" if isinstance(system, Accelerator) else "generator")
    info = system.info
    assert info.default_steps and info.test_steps >= 1
    assert system.sampler is None or system.sampler in info.samplers
    assert check_guidance(system.guidance) == system.guidance


def output_shape_rate_range_and_dtype(system, components) -> None:
    result = generate(system, duration_s=1.0)
    assert result.sample_rate == system.sample_rate
    assert result.audio.shape == (3, system.sample_rate)
    assert result.audio.dtype == np.float32
    assert np.isfinite(result.audio).all() and np.abs(result.audio).max() <= 1.0
    assert isinstance(result.nfe, int) and result.nfe >= 1


def default_duration_is_the_components_clip(system, components) -> None:
    result = generate(system, prompts=PROMPTS[:1], seeds=SEEDS[:1])
    assert result.audio.shape[1] == round(components.preset.clip_duration_s * system.sample_rate)


def same_seed_same_audio_other_seed_other_audio(system, components) -> None:
    a, b = generate(system).audio, generate(system).audio
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, generate(system, seeds=(5, 6, 7)).audio)


def outputs_do_not_depend_on_batch_size(system, components) -> None:
    for sampler in samplers_to_check(system):
        together = generate(system, sampler=sampler).audio
        alone = np.concatenate([generate(system, prompts=(p,), seeds=(s,), sampler=sampler).audio
                                for p, s in zip(PROMPTS, SEEDS)])
        tolerance = min(1e-4, 1e-3 * float(np.abs(together).max()))  # float drift is ~1e-5 of the peak
        np.testing.assert_allclose(together, alone, rtol=0, atol=tolerance, err_msg=f"sampler {sampler}")


def starts_from_the_shared_item_noise(system, components) -> None:
    request = GenRequest(prompts=PROMPTS, seeds=SEEDS, steps=system.info.test_steps)
    expected = initial_noise(PROMPTS, SEEDS, system.latent_shape(None))
    assert torch.equal(system.initial_noise(request), expected)
    seen, original = [], system.initial_noise
    system.initial_noise = lambda req: seen.append(original(req)) or seen[-1]
    try:
        system.generate(request)
    finally:
        del system.initial_noise
    assert len(seen) == 1 and torch.equal(seen[0], expected), "generate must draw self.initial_noise once"


def prompt_changes_the_audio(system, components) -> None:
    a = generate(system, prompts=(PROMPTS[0],), seeds=(0,))
    b = generate(system, prompts=("rain falling quietly",), seeds=(0,))
    assert not np.allclose(a.audio, b.audio)


def over_long_prompt_is_refused(system, components) -> None:
    with pytest.raises(SystemInputError, match="too long"):
        generate(system, prompts=("a very long prompt " * 40,), seeds=(0,))


def unknown_sampler_and_option_are_clear_errors(system, components) -> None:
    offered = system.info.samplers
    if offered:
        typo = offered[0] + "x"
        hint = rf"unknown sampler '{re.escape(typo)}'.*Did you mean .*'{re.escape(offered[0])}'"
        with pytest.raises(UnknownNameError, match=hint):
            generate(system, sampler=typo)
    else:
        with pytest.raises(SystemInputError, match="takes no sampler"):
            generate(system, sampler="euler")
    with pytest.raises(SystemInputError, match="no_such_option"):
        generate(system, options={"no_such_option": 1})


GENERATOR_CHECKS = [
    declares_the_generator_contract, output_shape_rate_range_and_dtype,
    default_duration_is_the_components_clip, same_seed_same_audio_other_seed_other_audio,
    outputs_do_not_depend_on_batch_size, starts_from_the_shared_item_noise, prompt_changes_the_audio,
    over_long_prompt_is_refused, unknown_sampler_and_option_are_clear_errors,
]


TEST_BUDGET = Budget(max_updates=2, batch=4, max_teacher_nfe=50_000)


def test_settings(system) -> dict:
    """The small training settings a system declares for tests (``test_settings``), if any."""
    return dict(getattr(system, "test_settings", {}) or {})


def fits_under_a_budget_then_generates(system, components, store) -> None:
    assert system.trained_from in ("teacher", "scratch")
    assert isinstance(dict(system.train_defaults), dict)
    report = system.fit(TEST_BUDGET, settings=test_settings(system), store=store, progress=False)
    assert isinstance(report, TrainReport) and report.updates == 2 and report.examples_seen == 8
    record = system.training_record()
    assert record["updates"] == 2 and record["batch"] == 4
    output_shape_rate_range_and_dtype(system, components)


def refits_from_the_store_without_training(system, components, store) -> None:
    first = system.fit(TEST_BUDGET, settings=test_settings(system), store=store, progress=False)
    again = build(type(system), components)
    second = again.fit(TEST_BUDGET, settings=test_settings(system), store=store, progress=False)
    assert second.to_dict() == first.to_dict()   # the stored report: nothing retrained
    request = dict(prompts=PROMPTS[:1], seeds=(0,), steps=system.info.test_steps)
    np.testing.assert_array_equal(system.generate(GenRequest(**request)).audio,
                                  again.generate(GenRequest(**request)).audio)


def unknown_training_setting_is_a_clear_error(system, components, store) -> None:
    with pytest.raises(SystemInputError, match="no training setting"):
        system.fit(TEST_BUDGET, settings={"no_such_setting": 1}, store=store, progress=False)


def budget_without_batch_is_a_clear_error(system, components, store) -> None:
    with pytest.raises(SystemInputError, match="batch"):
        system.fit(Budget(max_updates=2), settings=test_settings(system), store=store, progress=False)


ACCELERATOR_CHECKS = [fits_under_a_budget_then_generates, refits_from_the_store_without_training,
                      unknown_training_setting_is_a_clear_error, budget_without_batch_is_a_clear_error]


# ---------------------------------------------------------------- codecs


def clips(codec, n: int = 3, duration_s: float = 1.0) -> np.ndarray:
    """``n`` procedural clips [n, samples] float32 at the codec's rate (the first ``duration_s``)."""
    rate = max(codec.sample_rate, 16000)  # the synthesiser's lowest rate
    rows = [resample(render_item(it, rate, MIN_CLIP_S), rate, codec.sample_rate)
            for it in make_items("test", n, seed=0)]
    return np.stack(rows)[:, : round(duration_s * codec.sample_rate)].astype(np.float32)


def decode(codec, encoded):
    return codec.decode(encoded, steps=codec.info.test_steps, seed=0)


def declares_the_codec_contract(codec, components) -> None:
    check_common_declarations(codec, "codec")
    nominal = codec.bitrate_kbps()
    assert isinstance(nominal, float) and math.isfinite(nominal) and nominal > 0


def payload_has_a_size_and_round_trips(codec, components) -> None:
    audio = clips(codec)
    encoded = codec.encode(audio)
    assert encoded.num_samples == audio.shape[1] and encoded.sample_rate == codec.sample_rate
    assert isinstance(encoded.payload_bits, int) and encoded.payload_bits > 0
    assert math.isfinite(encoded.bitrate_kbps) and encoded.bitrate_kbps > 0
    out = decode(codec, encoded)
    assert out.shape == audio.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


def codec_is_deterministic(codec, components) -> None:
    audio = clips(codec)
    np.testing.assert_array_equal(decode(codec, codec.encode(audio)), decode(codec, codec.encode(audio)))


def codec_does_not_depend_on_batch_size(codec, components) -> None:
    audio = clips(codec)
    together = decode(codec, codec.encode(audio))
    alone = np.concatenate([decode(codec, codec.encode(audio[i: i + 1])) for i in range(len(audio))])
    np.testing.assert_allclose(together, alone, atol=1e-4)


CODEC_CHECKS = [declares_the_codec_contract, payload_has_a_size_and_round_trips, codec_is_deterministic,
                codec_does_not_depend_on_batch_size]


def kind_checks(cls) -> list:
    """Every check a system class must pass, by its kind."""
    if issubclass(cls, Codec):
        return CODEC_CHECKS
    return GENERATOR_CHECKS + (ACCELERATOR_CHECKS if issubclass(cls, Accelerator) else [])

