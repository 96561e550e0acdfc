"""Plain residual vector quantisation by k-means (RQ): the QINCo ablation baseline and QINCo2's init.

Step m fits a K-centre codebook C_m by k-means on the running residual r_m = z − Σ_{j<m} C_j[i_j]
(r_0 = z) of the normalised training data; encoding is greedy, i_m = argmin_k ‖r_m − C_m[k]‖²,
and decoding sums the chosen codewords (systems reference §2.4.1, "Initialise the codebooks from
an RQ (k-means) fit").

k-means: k-means++ seeding (Arthur & Vassilvitskii 2007: each new centre drawn with probability
∝ its squared distance to the nearest centre so far) or K distinct random points, from a seeded
``torch.Generator``; then Lloyd iterations (assign to the nearest centre, move each centre to
the float64 mean of its points). A centre left without points is re-seeded at one of the points
with the largest error, so no codeword is wasted. Every fit ends with an assignment after a
mean update, which guarantees the mean training error of step m is ≤ that of step m − 1: a
cluster's mean is at least as close to its points as the zero vector is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from systems.quantizers import QuantizerError
from systems.quantizers.base import VectorQuantizer, positive_int
from systems.training.loop import derive_seed

INITS = ("kmeans++", "random")
CHUNK_VECTORS = 8192   # rows per distance matrix: bounds memory at CHUNK_VECTORS × K floats


def squared_distances(x: Tensor, centres: Tensor) -> Tensor:
    """‖x_i − c_k‖² [N, K] as ‖x‖² − 2 x·c + ‖c‖², clamped at 0 against round-off."""
    cross = x @ centres.T
    return (x.pow(2).sum(1, keepdim=True) - 2.0 * cross + centres.pow(2).sum(1)).clamp_min_(0.0)


def nearest(x: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """Index of the nearest centre (int64 [N]) and its squared distance [N], in row chunks."""
    indices, errors = [], []
    for part in x.split(CHUNK_VECTORS):
        error, index = squared_distances(part, centres).min(1)
        indices.append(index)
        errors.append(error)
    if not indices:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.cat(indices), torch.cat(errors)


def kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding: k rows of x, each drawn ∝ squared distance to the closest one so far."""
    chosen = [int(torch.randint(x.shape[0], (1,), generator=generator))]
    closest = squared_distances(x, x[chosen[0]][None])[:, 0].double()
    for _ in range(1, k):
        total = float(closest.sum())
        if total > 0.0:
            pick = int(torch.multinomial(closest / total, 1, generator=generator))
        else:   # every point already coincides with a centre: any point will do
            pick = int(torch.randint(x.shape[0], (1,), generator=generator))
        chosen.append(pick)
        closest = torch.minimum(closest, squared_distances(x, x[pick][None])[:, 0].double())
    return x[chosen].clone()


def random_init(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k distinct random rows of x."""
    return x[torch.randperm(x.shape[0], generator=generator)[:k]].clone()


def update_centres(x: Tensor, index: Tensor, error: Tensor, k: int) -> tuple[Tensor, int]:
    """Lloyd's mean update (float64 sums); empty clusters re-seeded at the worst-coded points."""
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64).index_add_(0, index, x.double())
    counts = torch.bincount(index, minlength=k)
    centres = (sums / counts.clamp_min(1)[:, None]).to(x.dtype)
    empty = (counts == 0).nonzero()[:, 0]
    if len(empty):   # the points with the largest error are the ones the codebook serves worst
        worst = error.topk(min(len(empty), x.shape[0])).indices
        centres[empty[: len(worst)]] = x[worst]
    return centres, int(len(empty))


@dataclass(frozen=True)
class KMeansResult:
    centres: Tensor      # [K, d]
    assignment: Tensor   # int64 [N]: nearest centre of each point, after the last update
    error: Tensor        # [N]: squared distance of each point to its centre
    reseeded: int        # empty clusters re-seeded over all iterations
    iterations: int      # Lloyd iterations run (stops early once assignments no longer change)


def kmeans(x: Tensor, k: int, *, iterations: int, generator: torch.Generator,
           init: str = "kmeans++") -> KMeansResult:
    """k-means of x [N, d] (N ≥ k): seeding, then at most ``iterations`` Lloyd iterations."""
    if init not in INITS:
        raise QuantizerError(f"unknown k-means init {init!r}; use one of {INITS}")
    centres = (kmeans_plus_plus if init == "kmeans++" else random_init)(x, k, generator)
    index, error = nearest(x, centres)
    reseeded, done = 0, 0
    while done < iterations:
        centres, empty = update_centres(x, index, error, k)
        new_index, error = nearest(x, centres)
        reseeded, done = reseeded + empty, done + 1
        converged = empty == 0 and torch.equal(new_index, index)
        index = new_index
        if converged:
            break
    return KMeansResult(centres, index, error, reseeded, done)


def residual_kmeans(z: Tensor, steps: int, k: int, *, iterations: int, seed: int,
                    init: str = "kmeans++", progress: bool = False) -> tuple[Tensor, dict[str, Any]]:
    """Codebooks [steps, k, d] fitted step by step on the running residual of z; plus a report.

    The report has the empty-cluster re-seeds per step and the training MSE after each step in
    normalised units (``mse_normalised``, float64).
    """
    residual, codebooks, reseeded, mse = z.clone(), [], [], []
    for m in tqdm(range(steps), desc="residual k-means", disable=not progress):
        generator = torch.Generator().manual_seed(derive_seed(seed, m, "rvq"))
        result = kmeans(residual, k, iterations=iterations, generator=generator, init=init)
        residual -= result.centres[result.assignment]
        codebooks.append(result.centres)
        reseeded.append(result.reseeded)
        mse.append(float(residual.double().pow(2).mean()))
    report = {"reseeded_per_step": reseeded, "resets": sum(reseeded), "mse_normalised": mse}
    return torch.stack(codebooks), report


def greedy_encode(z: Tensor, codebooks: Tensor) -> Tensor:
    """Codes [n, M]: at each step the codeword nearest to the running residual."""
    residual, codes = z.clone(), []
    for codebook in codebooks:
        index, _ = nearest(residual, codebook)
        residual -= codebook[index]
        codes.append(index)
    return torch.stack(codes, 1) if codes else torch.zeros(z.shape[0], 0, dtype=torch.long)


class ResidualKMeans(VectorQuantizer):
    """Plain RQ: M k-means codebooks on running residuals, greedy encoding (see the module).

    ``fit(x, epochs=...)`` sets the Lloyd iterations per step (default: ``iterations``).
    Buffer ``codebooks [M, K, dim]`` holds the codebooks in normalised units.
    """

    kind = "rvq"

    def __init__(self, dim: int, steps: int = 4, codebook_size: int = 64, *, iterations: int = 25,
                 init: str = "kmeans++") -> None:
        super().__init__(dim, steps, codebook_size)
        if init not in INITS:
            raise QuantizerError(f"unknown k-means init {init!r}; use one of {INITS}")
        self.iterations = positive_int(iterations, "iterations")
        self.init = init
        self.register_buffer("codebooks", torch.zeros(steps, codebook_size, dim))

    def _extra_config(self) -> dict[str, Any]:
        return {"iterations": self.iterations, "init": self.init}

    def _fit_normalised(self, z: Tensor, *, seed: int, epochs: int | None,
                        progress: bool) -> dict[str, Any]:
        iterations = self.iterations if epochs is None else positive_int(epochs, "epochs")
        codebooks, report = residual_kmeans(z, self.steps, self.codebook_size, iterations=iterations,
                                            seed=seed, init=self.init, progress=progress)
        self.codebooks.copy_(codebooks)
        return {"epochs": iterations, "reseeded_per_step": report["reseeded_per_step"],
                "resets": report["resets"]}

    def _encode_normalised(self, z: Tensor, steps: int) -> Tensor:
        return greedy_encode(z, self.codebooks[:steps])

    def _reconstructions(self, codes: Tensor) -> list[Tensor]:
        # summed step by step in a fixed order, as QINCo2 at its identity init does (equal bits)
        z_hat, out = torch.zeros(codes.shape[0], self.dim), []
        for m in range(codes.shape[1]):
            z_hat = z_hat + self.codebooks[m][codes[:, m]]
            out.append(z_hat)
        return out
