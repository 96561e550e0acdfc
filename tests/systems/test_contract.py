"""Contract tests run over every registered system (built from the micro shared components)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.registry import UnknownNameError
from systems import SYSTEMS, get_system
from systems.api import GenRequest, SystemInputError, TextToAudio
from systems.noise import initial_noise

PROMPTS = ("a loud high-pitched tone starting early", "quiet low rumble of an engine, repeating slowly",
           "a short noise burst")


@pytest.fixture(scope="module", params=sorted(SYSTEMS))
def system(request, micro_components):
    cls = get_system(request.param)
    assert cls.info.name == request.param
    return cls.from_components(micro_components)


def generate(system, prompts=PROMPTS, seeds=(0, 1, 2), steps=2, **kw):
    return system.generate(GenRequest(prompts=prompts, seeds=seeds, steps=steps, **kw))


def test_output_shape_rate_range_and_dtype(system, micro_components):
    result = generate(system, duration_s=1.0)
    assert result.sample_rate == system.sample_rate == micro_components.preset.mel.sample_rate
    assert result.audio.shape == (3, system.sample_rate)
    assert result.audio.dtype == np.float32
    assert np.isfinite(result.audio).all() and np.abs(result.audio).max() <= 1.0
    assert result.nfe >= 1


def test_default_duration_is_the_preset_clip(system, micro_components):
    result = generate(system, prompts=PROMPTS[:1], seeds=(0,))
    assert result.audio.shape[1] == round(micro_components.preset.clip_duration_s * system.sample_rate)


def test_same_seed_same_audio_other_seed_other_audio(system):
    a, b = generate(system).audio, generate(system).audio
    np.testing.assert_array_equal(a, b)
    c = generate(system, seeds=(5, 6, 7)).audio
    assert not np.allclose(a, c)


def test_outputs_do_not_depend_on_batch_size(system):
    together = generate(system).audio
    alone = np.concatenate([generate(system, prompts=(p,), seeds=(s,)).audio
                            for p, s in zip(PROMPTS, (0, 1, 2))])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_stochastic_sampler_is_batch_independent_too(system):
    kw = {"sampler": "pingpong"}
    together = generate(system, **kw).audio
    alone = np.concatenate([generate(system, prompts=(p,), seeds=(s,), **kw).audio
                            for p, s in zip(PROMPTS, (0, 1, 2))])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_generation_starts_from_the_shared_item_noise(system, monkeypatch):
    seen = []
    original = system.initial_noise
    monkeypatch.setattr(system, "initial_noise", lambda req: seen.append(original(req)) or seen[-1])
    request = GenRequest(prompts=PROMPTS, seeds=(0, 1, 2), steps=1)
    system.generate(request)
    expected = initial_noise(PROMPTS, (0, 1, 2), system.latent_shape(None))
    assert len(seen) == 1 and torch.equal(seen[0], expected)


def test_every_system_sees_the_same_noise(micro_components):
    request = GenRequest(prompts=PROMPTS, seeds=(3, 4, 5), steps=1)
    noises = [get_system(name).from_components(micro_components).initial_noise(request) for name in SYSTEMS]
    for other in noises[1:]:
        assert torch.equal(noises[0], other)


def test_prompt_changes_the_audio(system):
    a = generate(system, prompts=("a loud high-pitched tone starting early",), seeds=(0,), steps=2)
    b = generate(system, prompts=("rain falling quietly",), seeds=(0,), steps=2)
    assert not np.allclose(a.audio, b.audio)


def test_is_a_text_to_audio_system(system):
    assert isinstance(system, TextToAudio)
    assert system.info.default_steps and all(s >= 1 for s in system.info.default_steps)


@pytest.mark.parametrize("kwargs, message", [
    ({"prompts": ("",), "seeds": (0,)}, "prompt 0 is empty"),
    ({"prompts": ("   ",), "seeds": (0,)}, "prompt 0 is empty"),
    ({"prompts": (), "seeds": ()}, "no prompts"),
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"steps": 2.5}, "steps must be an integer >= 1"),
    ({"guidance": -1.0}, "guidance must be a finite number >= 0"),
    ({"prompts": ("a tone", "a hum"), "seeds": (0,)}, "give one seed per prompt"),
    ({"duration_s": 0.0}, "duration_s must be a positive"),
])
def test_bad_requests_are_clear_errors(kwargs, message):
    base = {"prompts": ("a tone",), "seeds": (0,), "steps": 2}
    with pytest.raises(SystemInputError, match=message):
        GenRequest(**{**base, **kwargs})


def test_over_long_prompt_is_refused(system):
    with pytest.raises(SystemInputError, match="prompt is too long"):
        generate(system, prompts=("a very long prompt " * 40,), seeds=(0,))


def test_unknown_sampler_and_option_are_clear_errors(system):
    with pytest.raises(UnknownNameError, match="unknown sampler 'eular'.*Did you mean 'euler'"):
        generate(system, sampler="eular")
    with pytest.raises(SystemInputError, match="does not understand option"):
        generate(system, options={"gamma": 0.5})


def test_unknown_system_is_a_helpful_error():
    with pytest.raises(UnknownNameError, match="unknown system 'teachr'.*Did you mean 'teacher'"):
        get_system("teachr")
