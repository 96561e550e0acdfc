"""Small synthetic data and quantisers fitted once per test session (seconds on one thread)."""
from __future__ import annotations

import math

import pytest
import torch

from systems.quantizers.qinco2 import QINCo2
from systems.quantizers.rvq import ResidualKMeans

DIM, STEPS, CODEBOOK = 6, 3, 16
#: fast QINCo2 settings: 2 000 vectors × 12 epochs of batch 256 ≈ 100 updates
QINCO_SMALL = dict(blocks=1, embed_dim=16, hidden_dim=16, candidates=4, beam=4, epochs=12,
                   batch_size=256, warmup_epochs=1.0, init_noise=0.0, rvq_iterations=15)
RVQ_SMALL = dict(iterations=15)
_PROJECTION = torch.randn(4, DIM, generator=torch.Generator().manual_seed(123))


def curved(n: int, seed: int) -> torch.Tensor:
    """A noisy curved 2-d sheet (a spiral × an interval with a wave) embedded linearly in DIM-d."""
    g = torch.Generator().manual_seed(seed)
    t, s = torch.rand(n, generator=g) * 4 * math.pi, torch.rand(n, generator=g)
    sheet = torch.stack([t * torch.cos(t), t * torch.sin(t), 3 * s, torch.sin(2 * t)], 1)
    return sheet @ _PROJECTION + 0.05 * torch.randn(n, DIM, generator=g)


def make(kind: str, **overrides):
    if kind == "rvq":
        return ResidualKMeans(DIM, STEPS, CODEBOOK, **{**RVQ_SMALL, **overrides})
    return QINCo2(DIM, STEPS, CODEBOOK, **{**QINCO_SMALL, **overrides})


@pytest.fixture(scope="session")
def train_x() -> torch.Tensor:
    return curved(2000, seed=0)


@pytest.fixture(scope="session")
def test_x() -> torch.Tensor:
    return curved(1000, seed=1)


@pytest.fixture(scope="session")
def fitted_rvq(train_x):
    model = make("rvq")
    return model, model.fit(train_x, seed=0)


@pytest.fixture(scope="session")
def fitted_qinco2(train_x):
    model = make("qinco2")
    return model, model.fit(train_x, seed=0)


@pytest.fixture(scope="session", params=["rvq", "qinco2"])
def fitted(request, fitted_rvq, fitted_qinco2):
    """(kind, model, fit report) for each quantiser."""
    model, report = fitted_rvq if request.param == "rvq" else fitted_qinco2
    return request.param, model, report
