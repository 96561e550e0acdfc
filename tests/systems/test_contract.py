"""Contract tests over every registered system of each kind, built from the micro shared components.

The systems are read from the registry at collection time (``SYSTEMS`` plus the entry points of
installed packages), sorted into generators (accelerators included), accelerators and codecs,
and each runs the checks of its kind (``contract.py``) at the settings it declares. A kind with
no registered system yet shows as skipped; the test doubles of ``fakes.py``, registered through a
fake entry point, show that every kind's checks run, and that they catch broken systems.
"""
from __future__ import annotations

from importlib.metadata import EntryPoint

import numpy as np
import pytest
import torch

import systems
from bench.runner import GenItem, generation_key
from common.registry import UnknownNameError
from systems import ENTRY_POINT_GROUP, get_system, system_table
from systems.api import (
    Accelerator,
    Codec,
    GenRequest,
    System,
    SystemInfo,
    SystemInputError,
    TextToAudio,
    check_guidance,
    check_steps,
)
from systems.samplers.grids import make_grid
from systems.samplers.guidance import classifier_free
from tests.systems import contract, fakes

GENERATORS, ACCELERATORS, CODECS = (contract.registered(kind) for kind in (TextToAudio, Accelerator, Codec))
FAKES = {cls.info.name: cls for cls in (fakes.OneStep, fakes.ToyAccelerator, fakes.FrameCodec)}


def check_id(check) -> str:
    return check.__name__


def or_skip(names: list[str], kind: str) -> list:
    """``names``, or one skipped case saying that no system of ``kind`` is registered yet."""
    return names or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {kind} is registered yet"))]


@pytest.fixture(scope="module")
def built(micro_components, micro_store):
    """``built(name)``: the registered system ``name`` from the micro components (one per module);
    an accelerator, or a codec trained inside runs (one with ``fit``, e.g. S-PRESSO), is first fitted
    under a few-update budget at its declared test settings."""
    cache = {}

    def build(name):
        if name not in cache:
            system = contract.build(get_system(name), micro_components)
            if isinstance(system, Accelerator) or callable(getattr(system, "fit", None)):
                system.fit(contract.TEST_BUDGET, settings=contract.test_settings(system), store=micro_store,
                           progress=False)
            cache[name] = system
        return cache[name]
    return build


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Installs the test doubles as entry points of ``fastaudio_bench.systems``."""
    points = [EntryPoint(name, f"{cls.__module__}:{cls.__name__}", ENTRY_POINT_GROUP)
              for name, cls in FAKES.items()]
    monkeypatch.setattr(systems, "entry_points", lambda group: [p for p in points if p.group == group])


def test_every_registered_system_is_of_one_kind_under_its_own_name():
    for name in system_table():
        cls = get_system(name)
        assert issubclass(cls, (TextToAudio, Codec)), f"{name} is neither a TextToAudio nor a Codec"
        assert cls.info.name == name


@pytest.mark.parametrize("check", contract.GENERATOR_CHECKS, ids=check_id)
@pytest.mark.parametrize("name", or_skip(GENERATORS, "generator"))
def test_generator_contract(name, check, built, micro_components):
    check(built(name), micro_components)


@pytest.mark.parametrize("check", contract.ACCELERATOR_CHECKS, ids=check_id)
@pytest.mark.parametrize("name", or_skip(ACCELERATORS, "accelerator"))
def test_accelerator_contract(name, check, micro_components, micro_store):
    check(contract.build(get_system(name), micro_components), micro_components, micro_store)  # fit changes it


@pytest.mark.parametrize("check", contract.CODEC_CHECKS, ids=check_id)
@pytest.mark.parametrize("name", or_skip(CODECS, "codec"))
def test_codec_contract(name, check, built, micro_components):
    check(built(name), micro_components)


def test_systems_with_one_latent_shape_start_from_the_same_noise(fake_entry_points, micro_components):
    request = GenRequest(prompts=contract.PROMPTS, seeds=(3, 4, 5), steps=1)
    by_shape, names = {}, contract.registered(TextToAudio)  # the test doubles share the teacher's shape
    for name in names:
        if contract.missing_requirements(get_system(name)):
            continue   # its extra is not installed: its own contract tests say so
        noise = contract.build(get_system(name), micro_components).initial_noise(request)
        assert torch.equal(by_shape.setdefault(tuple(noise.shape), noise), noise), name
    assert len(by_shape) < len(names)


# ---------------------------------------------------------------- entry points and test doubles


def test_entry_point_systems_are_sorted_into_their_kinds(fake_entry_points):
    assert contract.registered(TextToAudio) == sorted([*GENERATORS, "one-step", "toy-accelerator"])
    assert contract.registered(Accelerator) == sorted([*ACCELERATORS, "toy-accelerator"])
    assert contract.registered(Codec) == sorted([*CODECS, "toy-codec"])


@pytest.mark.parametrize("name, check", [(name, check) for name, cls in FAKES.items()
                                         for check in contract.kind_checks(cls)],
                         ids=lambda v: v if isinstance(v, str) else check_id(v))
def test_entry_point_systems_pass_the_checks_of_their_kind(fake_entry_points, name, check, micro_components,
                                                          micro_store):
    cls = get_system(name)
    assert cls is FAKES[name]
    extra = (micro_store,) if check in contract.ACCELERATOR_CHECKS else ()
    check(cls.from_components(micro_components), micro_components, *extra)


@pytest.mark.parametrize("cls, check", [
    (fakes.BrokenBatchCoupled, contract.outputs_do_not_depend_on_batch_size),
    (fakes.BrokenGlobalNoise, contract.same_seed_same_audio_other_seed_other_audio),
    (fakes.BrokenOwnNoise, contract.starts_from_the_shared_item_noise),
    (fakes.BrokenDitheringCodec, contract.codec_is_deterministic),
    (fakes.BrokenEmptyPayloadCodec, contract.payload_has_a_size_and_round_trips),
], ids=lambda v: v.__name__)
def test_the_checks_catch_a_system_that_breaks_their_rule(cls, check, micro_components):
    with pytest.raises(AssertionError):
        check(cls.from_components(micro_components), micro_components)


# ---------------------------------------------------------------- names, settings and cache keys


def test_the_name_is_in_every_cache_key_even_when_config_forgets_it(micro_components):
    request = GenRequest(prompts=("a tone",), seeds=(0,), steps=1)
    item = GenItem("p0000-g0", "a tone", 0, {})
    one, twin, forgetful = (cls.from_components(micro_components)
                            for cls in (fakes.OneStep, fakes.OneStepTwin, fakes.ForgetsItsName))
    assert {k: v for k, v in one.config().items() if k != "system"} == \
        {k: v for k, v in twin.config().items() if k != "system"}
    assert forgetful.cache_config() == {"system": "forgets-its-name", "scale": 0.5}
    keys = {generation_key(system, request, item) for system in (one, twin, forgetful)}
    assert len(keys) == 3


def test_a_config_naming_another_system_is_refused(micro_components):
    with pytest.raises(ValueError, match="names system 'teacher', but the system is registered as"):
        fakes.ClaimsAnotherName.from_components(micro_components).cache_config()


def test_the_default_config_is_the_name(micro_components):
    assert System.config(fakes.OneStep.from_components(micro_components)) == {"system": "one-step"}


@pytest.mark.parametrize("kwargs, message", [
    ({"name": ""}, "must be the registered name"),
    ({"name": "x", "default_steps": (4, 2)}, "default_steps must be increasing"),
    ({"name": "x", "default_steps": (0, 2)}, "steps must be an integer >= 1"),
    ({"name": "x", "test_steps": 1.5}, "steps must be an integer >= 1"),
])
def test_bad_system_info_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SystemInfo(**kwargs)


def test_test_steps_default_to_the_fewest_default_steps():
    assert SystemInfo("x", default_steps=(2, 8)).test_steps == 2
    assert SystemInfo("x").test_steps is None


# ---------------------------------------------------------------- requests: one rule for steps and guidance


@pytest.mark.parametrize("steps", [0, -3, 2.5, True, "4", None])
def test_bad_steps_are_refused_alike_by_requests_and_samplers(steps):
    errors = []
    for refuse in (lambda: GenRequest(prompts=("a tone",), seeds=(0,), steps=steps),
                   lambda: make_grid("karras", steps), lambda: check_steps(steps)):
        with pytest.raises(SystemInputError) as caught:
            refuse()
        errors.append(str(caught.value))
    assert len(set(errors)) == 1 and errors[0].startswith("steps must be an integer >= 1")


@pytest.mark.parametrize("guidance", [-1.0, float("nan"), float("inf"), True, "3"])
def test_bad_guidance_is_refused_alike_by_requests_and_cfg(guidance):
    cond = {"tokens": torch.zeros(1, 2, 3)}
    errors = []
    for refuse in (lambda: GenRequest(prompts=("a tone",), seeds=(0,), steps=1, guidance=guidance),
                   lambda: classifier_free(lambda x, s, c: x, cond, cond, guidance),
                   lambda: check_guidance(guidance)):
        with pytest.raises(SystemInputError) as caught:
            refuse()
        errors.append(str(caught.value))
    assert len(set(errors)) == 1 and errors[0].startswith("guidance must be a finite number >= 0")


def test_numpy_integers_are_steps_everywhere():
    steps = np.int64(3)
    assert GenRequest(prompts=("a tone",), seeds=(0,), steps=steps).steps == 3
    assert len(make_grid("karras", steps)) == 4 and check_steps(steps) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"prompts": ("",), "seeds": (0,)}, "prompt 0 is empty"),
    ({"prompts": ("   ",), "seeds": (0,)}, "prompt 0 is empty"),
    ({"prompts": (), "seeds": ()}, "no prompts"),
    ({"prompts": ("a tone", "a hum"), "seeds": (0,)}, "give one seed per prompt"),
    ({"duration_s": 0.0}, "duration_s must be a positive"),
])
def test_bad_requests_are_clear_errors(kwargs, message):
    base = {"prompts": ("a tone",), "seeds": (0,), "steps": 2}
    with pytest.raises(SystemInputError, match=message):
        GenRequest(**{**base, **kwargs})


def test_unknown_system_is_a_helpful_error():
    with pytest.raises(UnknownNameError, match="unknown system 'teachr'.*Did you mean 'teacher'"):
        get_system("teachr")
