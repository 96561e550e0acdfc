"""The teacher-pair cache: content-addressed reuse, and no silent reuse of a bad entry."""
from __future__ import annotations

import shutil

import pytest
import torch

from systems.training.pairs import PairCache

SPEC = {"teacher": "teacher-aaaa", "sampler": "heun", "steps": 16, "guidance": 3.0}


class Maker:
    """Deterministic fake pairs: ε and x0 are functions of the seed; counts the items computed."""

    def __init__(self, nfe: int = 31) -> None:
        self.items, self.nfe = 0, nfe

    def __call__(self, prompts, seeds):
        self.items += len(prompts)
        eps = torch.stack([torch.full((2, 3), float(s)) for s in seeds])
        return eps, 2 * eps + len(prompts[0]), self.nfe


def items(n: int) -> list[tuple[str, int]]:
    return [(f"prompt {i % 3}", i) for i in range(n)]


def test_pairs_are_computed_once_then_reused_and_always_charged(tmp_path):
    cache, make = PairCache(tmp_path, chunk=4), Maker()
    first = cache.get(SPEC, items(10), make)
    second = cache.get(SPEC, items(10), make)
    assert make.items == 10 and first.computed == 10 and second.computed == 0
    assert torch.equal(first.eps, second.eps) and torch.equal(first.x0, second.x0)
    assert first.teacher_nfe == second.teacher_nfe == 31 * 10   # reuse costs the budget the same
    assert first.eps[:, 0, 0].tolist() == list(range(10))       # request order is kept


def test_chunks_are_keyed_by_every_setting(tmp_path):
    cache, make = PairCache(tmp_path, chunk=4), Maker()
    cache.get(SPEC, items(4), make)
    for change in ({"teacher": "teacher-bbbb"}, {"steps": 8}, {"guidance": 1.5}, {"sampler": "euler"}):
        cache.get({**SPEC, **change}, items(4), make)
    cache.get(SPEC, [("another prompt", 0)] + items(4)[1:], make)
    assert make.items == 4 * 6


def test_a_truncated_entry_is_recomputed_with_a_warning(tmp_path):
    cache, make = PairCache(tmp_path, chunk=4), Maker()
    good = cache.get(SPEC, items(4), make)
    path = cache.path(SPEC, items(4))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(UserWarning, match="unusable and is recomputed.*corrupt"):
        again = cache.get(SPEC, items(4), make)
    assert make.items == 8 and torch.equal(again.x0, good.x0)
    assert cache.get(SPEC, items(4), make).computed == 0   # the rewritten entry is whole again


def test_an_entry_of_another_teacher_is_never_reused(tmp_path):
    cache, make = PairCache(tmp_path, chunk=4), Maker()
    other = {**SPEC, "teacher": "teacher-bbbb"}
    cache.get(other, items(4), lambda p, s: (torch.zeros(4, 2, 3), torch.ones(4, 2, 3), 5))
    shutil.copyfile(cache.path(other, items(4)), cache.path(SPEC, items(4)))  # a foreign file in place
    with pytest.warns(UserWarning, match="different config.*teacher-bbbb"):
        pairs = cache.get(SPEC, items(4), make)
    assert make.items == 4 and pairs.x0[0, 0, 0].item() == 2 * 0 + len("prompt 0")


def test_a_spec_must_name_its_teacher(tmp_path):
    with pytest.raises(ValueError, match="must name the teacher checkpoint"):
        PairCache(tmp_path).get({"sampler": "heun"}, items(2), Maker())
    with pytest.raises(ValueError, match="no items"):
        PairCache(tmp_path).get(SPEC, [], Maker())
