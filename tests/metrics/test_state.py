"""Mergeable metric states (``metrics.state``): an accumulator records what it consumed; states of
shards fed in any order merge, by item position, into the 1-process accumulator bit for bit (value
and bootstrap replicates), also across 2 Gloo processes with ``all_gather``; bad merges are refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch.multiprocessing as mp

from metrics import get_metric
from metrics.base import Features, MetricInputError
from metrics.state import all_gather, merge_states, merged_metric, state_of

N, DIM, CLASSES = 30, 12, 7
METRICS = ["fd", "kad", "precision", "coverage", "ccds", "kl", "is", "emb_cos", "fd_inf"]


def features(side: int) -> list[Features]:
    rng = np.random.default_rng(side)
    logits = rng.normal(size=(N, 1, CLASSES)).astype(np.float32)
    embeddings = rng.normal(size=(N, 1, DIM)).astype(np.float32)
    return [Features(f"c{i:03d}", prompt=f"prompt {i % 10}", embedding=embeddings[i], logits=logits[i])
            for i in range(N)]


GEN, REF = features(1), features(2)


def one_process(name: str):
    metric = get_metric(name)()
    metric.update_items(GEN, REF)
    return metric


def replicates(metric, n: int = 8) -> np.ndarray:
    gen, ref = metric.fed()
    return metric.bootstrap(gen, ref, n, np.random.default_rng(5))


def shard_states(name: str, shards: int = 3):
    """Each shard's accumulator fed its items (every ``shards``-th) in a shuffled order."""
    states = []
    for k in range(shards):
        positions = np.random.default_rng(k).permutation(np.arange(k, N, shards))
        metric = get_metric(name)()
        metric.update_items([GEN[i] for i in positions], [REF[i] for i in positions])
        states.append(state_of(metric, positions, positions))
    return states


@pytest.mark.parametrize("name", METRICS)
def test_merged_shard_states_equal_the_one_process_accumulator(name):
    single = one_process(name)
    merged = merged_metric(merge_states(shard_states(name)))
    assert merged.compute() == single.compute()
    assert np.array_equal(replicates(merged), replicates(single))


def test_an_accumulator_records_what_it_consumed_and_reset_forgets_it():
    metric = get_metric("kad")()
    metric.update_items(GEN[:4], REF[:5])
    metric.update_items(GEN[4:6], [])
    assert [f.id for f in metric.fed()[0]] == [f.id for f in GEN[:6]] and len(metric.fed()[1]) == 5
    metric.reset()
    assert metric.fed() == ([], [])


def test_bad_merges_are_refused():
    states = shard_states("kad", 2)
    with pytest.raises(MetricInputError, match="come from two shards"):
        merge_states([states[0], states[0]])
    other = shard_states("fd", 2)[1]
    with pytest.raises(MetricInputError, match="one metric and one set of options"):
        merge_states([states[0], other])
    with pytest.raises(MetricInputError, match="positions given"):
        state_of(one_process("kad"), [0, 1], [0, 1])
    with pytest.raises(MetricInputError, match="no state"):
        merge_states([])


def _gather_worker(rank: int, init: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        positions = np.arange(rank, N, 2)[::-1]
        metric = get_metric("fd")()
        metric.update_items([GEN[i] for i in positions], [REF[i] for i in positions])
        merged = merged_metric(all_gather(state_of(metric, positions, positions)))
        np.save(f"{out}-{rank}.npy", np.array([merged.compute()["value"], *replicates(merged)]))
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_all_gather_their_states_into_the_one_process_value(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # the spawned ranks only; restored after the test
    mp.spawn(_gather_worker, args=(f"file://{tmp_path / 'rendezvous'}", str(tmp_path / "fd")), nprocs=2)
    single = one_process("fd")
    expected = np.array([single.compute()["value"], *replicates(single)])
    for rank in range(2):
        assert np.array_equal(np.load(tmp_path / f"fd-{rank}.npy"), expected)
