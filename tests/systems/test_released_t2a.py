"""The diffusers adapters (stable-audio-open, audioldm2, audioldm) on tiny random builds, offline.

Each tiny build is made in code, saved with ``save_pretrained`` and loaded back through the same
``from_pretrained(dir)`` call a user's downloaded snapshot takes (``systems.hf_models``). The
contract tests (``test_contract.py``) run the generic checks on them; this file checks what is
particular to released models: the load path, NFE with CFG and second-order schedulers, the
latent shape against the pipeline's own, refusals and the install/download errors.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="diffusers extra not installed (pip install -e '.[diffusers]')")

from common.paths import cache_root  # noqa: E402
from systems import get_system  # noqa: E402
from systems.api import GenRequest, SystemInputError  # noqa: E402
from systems.hf_models import TINY_RANDOM  # noqa: E402

NAMES = ("stable-audio-open", "audioldm2", "audioldm")
PROMPTS, SEEDS = ("a dog barking", "rain on a tin roof"), (0, 1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``tiny(name)``: the adapter on its tiny build (one per module, in a module cache)."""
    cache, built = tmp_path_factory.mktemp("released-cache"), {}
    mp = pytest.MonkeyPatch()
    mp.setenv("FASTAUDIO_CACHE", str(cache))

    def build(name):
        if name not in built:
            built[name] = get_system(name)(model=TINY_RANDOM, duration_s=1.0).load("cpu")
        return built[name]
    yield build
    mp.undo()


def generate(system, **kw):
    kw.setdefault("steps", 2)
    return system.generate(GenRequest(prompts=PROMPTS, seeds=SEEDS, **kw))


@pytest.mark.parametrize("name", NAMES)
def test_the_tiny_build_is_saved_then_loaded_like_a_download(tiny, name):
    system = tiny(name)
    folder = cache_root() / "released"
    saved = [p for p in folder.iterdir() if p.name.startswith(f"{name}-tiny-random-")]
    assert len(saved) == 1 and (saved[0] / "model_index.json").is_file()
    assert json.loads((saved[0] / "fastaudio_tiny_random.json").read_text())["adapter"] == name
    assert system.pipe.name_or_path == str(saved[0])     # from_pretrained(dir), not the in-memory build
    config = system.config()
    assert config["weights"].startswith("tiny-random") and config["tiny_build"] == saved[0].name
    assert config["diffusers"] and config["transformers"] and config["pipeline"] == system.pipeline_class


@pytest.mark.parametrize("name", NAMES)
def test_nfe_counts_both_cfg_branches(tiny, name):
    system = tiny(name)
    assert generate(system, guidance=1.0, steps=3).nfe == 3            # one call per step, no CFG
    assert generate(system, guidance=4.0, steps=3).nfe == 6            # [uncond; cond] rows both count


def test_a_second_order_scheduler_counts_its_extra_evaluations(tiny):
    system = tiny("audioldm")
    assert generate(system, sampler="heun", steps=3, guidance=1.0).nfe == 2 * 3 - 1   # Heun: 2N − 1 calls
    assert generate(system, sampler="heun", steps=3, guidance=2.0).nfe == 2 * (2 * 3 - 1)


@pytest.mark.parametrize("name", NAMES)
def test_the_latent_shape_is_the_one_the_pipeline_draws_itself(tiny, name, monkeypatch):
    """The pipeline called directly (no ``latents``) draws its own noise: spy on the shape it draws."""
    system, seen = tiny(name), []
    original = system.pipe.prepare_latents
    monkeypatch.setattr(system.pipe, "prepare_latents",
                        lambda *a, **kw: seen.append(original(*a, **kw)) or seen[-1])
    for duration_s in (1.0, 2.5, 0.3):
        length = {"audio_end_in_s": duration_s} if name == "stable-audio-open" else \
            {"audio_length_in_s": duration_s}
        system.pipe(prompt=["a dog barking"], num_inference_steps=1, guidance_scale=1.0, **length)
        assert tuple(seen[-1].shape[1:]) == system.latent_shape(duration_s), duration_s


@pytest.mark.parametrize("name", NAMES)
def test_durations_and_rates(tiny, name):
    system = tiny(name)
    result = generate(system, duration_s=0.5)
    assert result.audio.shape == (2, round(0.5 * system.sample_rate)) and result.audio.dtype == np.float32
    assert result.sample_rate == system.sample_rate == (44100 if name == "stable-audio-open" else 16000)


def test_stable_audio_refuses_clips_longer_than_its_window(tiny):
    system = tiny("stable-audio-open")
    with pytest.raises(SystemInputError, match="longer than the model's window"):
        generate(system, duration_s=system.max_duration_s() + 1.0)


@pytest.mark.parametrize("guidance", [0.0, 0.5])
def test_guidance_below_one_is_refused(tiny, guidance):
    with pytest.raises(SystemInputError, match="only for a scale > 1"):
        generate(tiny("audioldm"), guidance=guidance)
    with pytest.raises(SystemInputError, match="only for a scale > 1"):
        get_system("audioldm")(model=TINY_RANDOM, guidance=guidance)


def test_a_scheduler_swap_changes_the_audio_and_is_recorded(tiny):
    system = tiny("audioldm")
    ddim, euler = generate(system).audio, generate(system, sampler="euler").audio
    assert not np.allclose(ddim, euler)
    assert system.config()["scheduler"] == "DDIMScheduler"


def test_missing_weights_say_how_to_download(tmp_path, monkeypatch):
    import huggingface_hub.constants

    missing = tmp_path / "no-such-snapshot"
    with pytest.raises(SystemInputError, match=r"could not load .*local model must be a folder.*hf download"):
        get_system("audioldm")(model=str(missing)).load("cpu")
    # the hub client reads HF_HUB_OFFLINE when first imported: the imported constants are patched too,
    # with an empty hub cache, so nothing is fetched and nothing downloaded earlier counts
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(SystemInputError, match=r"cvssp/audioldm-s-full-v2.*about 1.1 GB.*needs internet"):
        get_system("audioldm")().load("cpu")


def test_a_missing_extra_names_the_pip_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)   # import diffusers now raises ImportError
    with pytest.raises(SystemInputError, match=r"pip install -e '\.\[diffusers\]'"):
        get_system("stable-audio-open")(model=TINY_RANDOM).load("cpu")


def test_bad_model_and_settings_are_refused():
    cls = get_system("audioldm")
    for bad, message in ((dict(model=""), "model must be a hub id"),
                         (dict(sampler="dpmpp"), "sampler must be"),
                         (dict(dtype="float64"), "dtype must be one of")):
        with pytest.raises(SystemInputError, match=message):
            cls(**bad)


def test_half_precision_on_the_cpu_is_refused_before_loading():
    system = get_system("audioldm")(model=TINY_RANDOM, dtype="float16")
    with pytest.raises(SystemInputError, match="needs a CUDA device"):
        system.load("cpu")
    assert system.pipe is None


def test_paths_are_told_from_hub_ids(tmp_path):
    from systems.hf_models import _looks_local

    assert _looks_local(str(tmp_path)) and _looks_local("./models/x") and _looks_local("models/audioldm/v2")
    assert not _looks_local("cvssp/audioldm2")


def test_the_weights_fingerprint_changes_with_the_files(tmp_path):
    from systems.hf_models import weights_fingerprint

    (tmp_path / "w.bin").write_bytes(b"1234")
    first = weights_fingerprint(str(tmp_path), str(tmp_path))
    assert first == weights_fingerprint(str(tmp_path), str(tmp_path))
    (tmp_path / "w.bin").write_bytes(b"12345")
    assert weights_fingerprint(str(tmp_path), str(tmp_path)) != first
    assert weights_fingerprint("org/model", "org/model", commit="abc") == {"revision": "abc"}
    unresolved = [weights_fingerprint("org/not-cached", "org/not-cached") for _ in range(2)]
    assert unresolved[0]["revision"] == "unresolved" and unresolved[0] != unresolved[1]   # never shared


def test_constructing_an_adapter_loads_nothing():
    system = get_system("stable-audio-open")()      # the default hub id: nothing is fetched until load
    assert system.pipe is None and system.model == "stabilityai/stable-audio-open-1.0"
