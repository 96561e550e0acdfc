"""The planted regressions of ``bench gate-selftest`` do what they say, and are undone afterwards."""
from __future__ import annotations

import pytest
import torch

from bench.gate_selftest import steps_halved, teacher_perturbed
from systems.api import GenRequest


@pytest.fixture(scope="module")
def micro_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FASTAUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "runner-cache"))
    yield
    mp.undo()


def test_steps_halved_changes_what_the_teacher_does_and_is_undone(micro_cache):
    import systems.components.shared as shared
    from systems.teacher import TeacherSystem

    system = TeacherSystem.from_components(shared.load_components("micro", progress=False))
    request = GenRequest(prompts=("a loud tone",), seeds=(0,), steps=4, sampler="euler")
    clean = system.generate(request)
    with steps_halved():
        planted = system.generate(request)
        assert system.config()["planted"] == "steps-halved"  # its clips are cached apart
    assert planted.nfe == clean.nfe // 2
    assert "planted" not in system.config() and system.generate(request).nfe == clean.nfe


def test_teacher_perturbed_changes_the_weights_and_their_hash_only_inside(micro_cache):
    import systems.components.shared as shared

    clean = shared.load_components("micro", progress=False)
    with teacher_perturbed(0.3):
        noisy = shared.load_components("micro", progress=False)
    assert noisy.hashes["teacher"] == clean.hashes["teacher"] + "+noise0.3"
    pairs = zip(noisy.teacher.parameters(), clean.teacher.parameters())
    assert max((a - b).abs().max().item() for a, b in pairs) > 0
    assert shared.load_components("micro", progress=False).hashes == clean.hashes
    assert torch.equal(next(shared.load_components("micro", progress=False).teacher.parameters()),
                       next(clean.teacher.parameters()))
