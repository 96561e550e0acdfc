"""Contrastive negatives for ARC: a derangement over the distinct captions of a batch.

ARC's discriminator learns to prefer (real clip, its prompt) over (real clip, another prompt).
The reference code "rolls" the prompts across the batch while mutating them in place, so with
batch size 2 an item can get its own prompt back, and items that share a caption (AudioCaps has
several captions per clip, our procedural set repeats captions) can be paired with their own
text (systems-reference §2.3, §7.6). Here the negatives are a true derangement: the distinct
captions of the batch are permuted by a random cycle (no caption maps to itself), and every item
takes the condition of an item whose caption is its own caption's image. So an item's negative
never has its caption, whatever the repeats.
"""
from __future__ import annotations

from typing import Sequence

import torch


class DerangementError(ValueError):
    """A batch whose captions cannot be deranged (fewer than two distinct captions)."""


def check_derangeable(captions: Sequence[str], what: str = "the batch") -> None:
    """Raise a DerangementError unless ``captions`` hold at least two distinct captions."""
    distinct = len(set(captions))
    if len(captions) < 2 or distinct < 2:
        raise DerangementError(
            f"{what} has {len(captions)} item(s) with {distinct} distinct caption(s); ARC's contrastive "
            "term needs at least 2 distinct captions to pair every clip with another prompt: raise the "
            "batch size or use data with more than one caption")


def caption_derangement(captions: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Index ``j[i]`` of the item whose condition is item ``i``'s negative: captions differ always.

    The distinct captions are shuffled into a random cycle g₀ → g₁ → … → g₀ (a derangement of
    the caption groups); item i takes the first item of its caption's successor group.
    """
    check_derangeable(captions)
    groups = list(dict.fromkeys(captions))                 # distinct captions, first-seen order
    order = torch.randperm(len(groups), generator=generator).tolist()
    successor = {groups[order[k]]: groups[order[(k + 1) % len(order)]] for k in range(len(order))}
    first = {}
    for index, caption in enumerate(captions):
        first.setdefault(caption, index)
    return torch.tensor([first[successor[caption]] for caption in captions], dtype=torch.long)
