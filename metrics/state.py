"""Mergeable metric states: what an accumulator consumed, keyed by each item's global position.

Several processes each feed their share of the items into an accumulator of the same metric. To
get the 1-process number *exactly*, the partial results are not combined (float sums depend on
their order: FD's mean and covariance, KAD's kernel sums, IS's marginal, PRDC's k-NN radii all
would differ in the last bits, and no bootstrap could be drawn from them). Instead the state of
every accumulator is the per-item features it consumed (``Metric.fed()``: embeddings, logits,
layers, audio, as the engine extracted them) tagged with each item's position in the full item
order. Merging concatenates the states, orders them by position and feeds them into one fresh
accumulator in a single ``update_items`` call — exactly what a 1-process evaluation does — so
``compute()`` and the bootstrap (which resamples the same ordered lists with the same seed) give
the same bits. States travel between processes with ``torch.distributed`` (:func:`all_gather`,
Gloo or NCCL) or through files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from common import dist
from metrics import get_metric
from metrics.base import Features, Metric, MetricInputError


@dataclass
class MetricState:
    """One accumulator's consumed items: ``(position, features)`` per side, plus how to rebuild it."""

    metric: str
    options: dict[str, Any]
    gen: list[tuple[int, Features]] = field(default_factory=list)
    ref: list[tuple[int, Features]] = field(default_factory=list)


def state_of(metric: Metric, gen_positions: Sequence[int], ref_positions: Sequence[int] = ()) -> MetricState:
    """The mergeable state of ``metric``: what it consumed, with each item's global position."""
    gen, ref = metric.fed()
    if len(gen) != len(gen_positions) or len(ref) != len(ref_positions):
        raise MetricInputError(f"{metric.info.name}: {len(gen)} gen / {len(ref)} ref items were fed but "
                               f"{len(gen_positions)} / {len(ref_positions)} positions given")
    return MetricState(metric.info.name, dict(metric.opts), list(zip(map(int, gen_positions), gen)),
                       list(zip(map(int, ref_positions), ref)))


def _ordered(parts: list[list[tuple[int, Features]]], side: str) -> list[tuple[int, Features]]:
    items = sorted((pair for part in parts for pair in part), key=lambda pair: pair[0])
    positions = [p for p, _ in items]
    if len(set(positions)) != len(positions):
        twice = sorted({p for p in positions if positions.count(p) > 1})[:5]
        raise MetricInputError(f"merging metric states: {side} position(s) {twice} come from two shards; "
                               "each item must belong to exactly one")
    return items


def merge_states(states: Sequence[MetricState]) -> MetricState:
    """One state holding every shard's items in position order (same metric and options required)."""
    if not states:
        raise MetricInputError("merging metric states: no state given")
    first = states[0]
    for other in states[1:]:
        if (other.metric, other.options) != (first.metric, first.options):
            raise MetricInputError(f"merging metric states of {other.metric} {other.options} into "
                                   f"{first.metric} {first.options}: one metric and one set of options")
    return MetricState(first.metric, dict(first.options), _ordered([s.gen for s in states], "gen"),
                       _ordered([s.ref for s in states], "ref"))


def merged_metric(state: MetricState) -> Metric:
    """A fresh accumulator fed the state's items in one call (the 1-process accumulator)."""
    metric = get_metric(state.metric)(**state.options)
    metric.update_items([f for _, f in state.gen], [f for _, f in state.ref])
    return metric


def all_gather(state: MetricState) -> MetricState:
    """Every rank's state merged, on every rank (``torch.distributed.all_gather_object``; the
    identity in one process)."""
    return merge_states(dist.gather(state))
