"""Residual k-means: k-means itself, empty-cluster re-seeding and the per-step error guarantee."""
from __future__ import annotations

import pytest
import torch

from systems.quantizers.rvq import greedy_encode, kmeans, residual_kmeans, update_centres

CENTRES = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, -8.0]])


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_kmeans_recovers_well_separated_centres(init):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(500) % len(CENTRES)
    x = CENTRES[labels] + 0.1 * torch.randn(500, 2, generator=g)
    result = kmeans(x, len(CENTRES), iterations=50, generator=torch.Generator().manual_seed(1), init=init)
    distance, match = torch.cdist(CENTRES, result.centres).min(1)
    assert sorted(match.tolist()) == list(range(len(CENTRES))) and (distance < 0.05).all()
    assert torch.equal(result.assignment, torch.cdist(x, result.centres).argmin(1))
    assert result.iterations < 50   # converged: assignments stopped changing


def test_empty_cluster_is_reseeded_at_the_worst_coded_point():
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [9.0, 9.0]])
    index = torch.tensor([0, 0, 0, 0])   # cluster 1 is empty
    error = torch.tensor([0.0, 0.01, 50.0, 162.0])
    centres, empty = update_centres(x, index, error, 2)
    assert empty == 1
    assert torch.allclose(centres[0], x.mean(0)) and torch.equal(centres[1], x[3])


def test_kmeans_uses_every_centre_even_with_duplicated_points():
    x = torch.cat([torch.zeros(50, 2), torch.ones(50, 2), torch.randn(20, 2) + 5])
    result = kmeans(x, 8, iterations=20, generator=torch.Generator().manual_seed(0))
    assert len(torch.unique(result.assignment)) == 8


def test_residual_kmeans_error_never_increases_with_steps(train_x):
    z = (train_x - train_x.mean(0)) / train_x.std()
    codebooks, report = residual_kmeans(z, 4, 8, iterations=10, seed=3)
    mse = [float(z.pow(2).mean())] + report["mse_normalised"]
    assert all(a >= b for a, b in zip(mse, mse[1:])) and mse[-1] < 0.5 * mse[0]
    codes = greedy_encode(z, codebooks)
    residual = z - sum(codebooks[m][codes[:, m]] for m in range(4))
    assert float(residual.double().pow(2).mean()) == pytest.approx(report["mse_normalised"][-1], rel=1e-5)


def test_greedy_encoding_takes_the_nearest_codeword_at_each_step(fitted_rvq, test_x):
    model, _ = fitted_rvq
    z, codes = model.normalise(test_x), model.encode(test_x)
    for m in range(model.steps):
        assert torch.equal(codes[:, m], torch.cdist(z, model.codebooks[m]).argmin(1))
        z = z - model.codebooks[m][codes[:, m]]


def test_rvq_report_matches_its_own_encoding(fitted_rvq, train_x):
    model, report = fitted_rvq
    assert report["train_mse_per_step"] == model.prefix_mse(train_x)
    assert all(a > b for a, b in zip(report["train_mse_per_step"], report["train_mse_per_step"][1:]))
    assert report["epochs"] == 15 and len(report["reseeded_per_step"]) == model.steps
