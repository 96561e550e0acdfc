"""ARC's contrastive negatives are a derangement over distinct captions (never an item's own caption)."""
from __future__ import annotations

import pytest
import torch

from systems.tasks.derangement import DerangementError, caption_derangement


def batches():
    """Batches of 2 … 64 items: all distinct, heavy repeats, two captions only, one odd one out."""
    for n in range(2, 65):
        yield [f"caption {i}" for i in range(n)]
        yield [f"caption {i % max(2, n // 4)}" for i in range(n)]
        yield [f"caption {i % 2}" for i in range(n)]
        yield ["the same"] * (n - 1) + ["another"]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_negatives_never_share_the_items_caption_for_every_batch_size(seed):
    generator = torch.Generator().manual_seed(seed)
    for captions in batches():
        index = caption_derangement(captions, generator)
        assert index.shape == (len(captions),) and index.dtype == torch.long
        assert all(captions[j] != captions[i] for i, j in enumerate(index.tolist())), captions
        # a derangement of the caption groups: each group's items share one negative caption
        image = {}
        for i, j in enumerate(index.tolist()):
            assert image.setdefault(captions[i], captions[j]) == captions[j]
        assert sorted(image.values()) == sorted(set(captions))   # a permutation of the groups


def test_every_distinct_caption_can_be_a_negative_and_the_draw_follows_the_generator():
    captions = [f"c{i}" for i in range(5)]
    draws = (caption_derangement(captions, torch.Generator().manual_seed(s)) for s in range(40))
    seen = {tuple(d.tolist()) for d in draws}
    assert len(seen) > 5   # random cycles, not one fixed roll
    a, b = (caption_derangement(captions, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b)


@pytest.mark.parametrize("captions", [["only one"], ["same", "same"], ["same"] * 64, []])
def test_a_batch_that_cannot_be_deranged_is_a_clear_error(captions):
    with pytest.raises(DerangementError, match="needs at least 2 distinct captions"):
        caption_derangement(captions, torch.Generator())
