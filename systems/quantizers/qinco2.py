"""QINCo2: residual quantisation with implicit neural codebooks (systems reference §2.4.1).

Step 0 is a plain codebook C_0. Step m ≥ 1 adapts each codeword of its base codebook C_m to the
reconstruction so far, x̂_m = x̂_{m−1} + f_m(C_m[i_m], x̂_{m−1}), with

    f_m(c, x̂) = c + OutProj(ResFFN^L(InProj(c) + Linear([InProj(c), x̂])))

where each ResFFN block is h + W2 ReLU(W1 h). Encoding is a beam search of width B: each beam's
residual is compared with an auxiliary codebook A_m (raw distances ‖r − A_m[k]‖²) to pre-select
A candidates, only those go through f_m, and the B best partial codes by full distance
‖z − x̂_m‖² survive; the final pick is the single best beam. Training (per batch): encode without
gradient, decode step by step with gradient, loss = Σ_m MSE(x̂_m, z) + Σ_{m≥1} MSE(x̂_{m−1} +
A_m[i_m], z) (the substep loss that fits A_m to the adapted codewords; x̂_{m−1} detached there).
AdamW, global grad-norm clipping, linear warm-up then cosine decay; codewords unused during an
epoch are reset to draws from N(mean, std²) of that epoch's residual targets z − x̂_{m−1}.
Codebooks start from a residual k-means fit (``rvq.residual_kmeans``, same seed) plus noise.

Defaults are the small-scale recipe's QINCo2-tiny (M 4, K 64, L 2, de = dh = 32, A 8, B 4,
30 epochs) with the paper's optimiser (lr 8e-4, wd 0.1, clip 0.1, batch 1024, 3 warm-up epochs,
cosine down to 1e-3 × lr).

Prefixes: every prefix of a code decodes (each step is trained on its own error), but the beam
search picks the code that is best for all M steps, so a prefix is not the best code at its own
rate (on the recipe-sized toy data below the 1-step prefix had 1.7× RVQ's 1-step error).
``encode(x, steps=m)`` runs the search for m steps instead and gives the dedicated lower rate.

Deviations from the paper / ``facebookresearch/Qinco`` (each a deliberate choice):

- ``init_noise`` defaults to 0.01 (× each codebook's std), not the reference code's 0.1. On 16 k
  8-d vectors of a curved sheet with the tiny recipe (≈ 480 updates), the final MSE relative to
  plain RVQ at equal bits was 0.52 (noise 0.01), 0.58 (noise 0) and 1.42 (noise 0.1): so short a
  training cannot undo a 10 % perturbation of the k-means codebooks.

- OutProj is zero-initialised as well as the FFN second layers and the concat Linear. With de ≠ d
  the FFN zero-init alone leaves f_m(c) = c + OutProj(InProj(c)) ≠ c; zeroing OutProj makes
  f_m(c, x̂) = c exactly, so an untrained QINCo2 decodes exactly as its RQ initialisation.
- InProj/OutProj exist even when de = d (the reference code drops them then); biases only in the
  concat Linear.
- The concat Linear is written as two maps, W_c InProj(c) + W_x x̂ + b (the same function), so
  the x̂ term is computed once per beam rather than once per candidate.
- Reset statistics are the exact float64 mean and per-dimension std of the epoch's residual
  targets (the reference code keeps a momentum-0.1 running average); reset rows also lose their
  AdamW moments, the auxiliary codeword is reset to the same value, and no reset follows the
  last epoch (it would leave untrained codewords in the final model).
- Warm-up lasts min(warmup_epochs, epochs / 2) epochs so that short fits still decay; the cosine
  ends at ``lr_floor`` × lr. No validation split or early stopping.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from systems.quantizers import QuantizerError
from systems.quantizers.base import VectorQuantizer, positive_int
from systems.quantizers.rvq import INITS, residual_kmeans, squared_distances
from systems.training.loop import derive_seed

#: rows (vectors × beams × candidates) per encode chunk: bounds the candidate tensors' memory
ENCODE_ROWS = 2**18


def kaiming_uniform_(weight: Tensor, generator: torch.Generator) -> None:
    """He-uniform init for a ReLU layer (bound √(6 / fan_in)) from an explicit generator."""
    bound = math.sqrt(6.0 / weight.shape[1])
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)


class ResFFN(nn.Module):
    """h + W2 ReLU(W1 h); W2 starts at zero so the block starts as the identity."""

    def __init__(self, embed_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.up = nn.Linear(embed_dim, hidden_dim, bias=False)
        self.down = nn.Linear(hidden_dim, embed_dim, bias=False)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.down(torch.relu(self.up(h)))

    def reset(self, generator: torch.Generator) -> None:
        kaiming_uniform_(self.up.weight, generator)
        nn.init.zeros_(self.down.weight)


class Adapter(nn.Module):
    """f_m(c, x̂) of the module docstring; c [..., d] and x̂ broadcastable to it."""

    def __init__(self, dim: int, embed_dim: int, hidden_dim: int, blocks: int) -> None:
        super().__init__()
        self.in_proj = nn.Linear(dim, embed_dim, bias=False)
        self.mix_code = nn.Linear(embed_dim, embed_dim)
        self.mix_context = nn.Linear(dim, embed_dim, bias=False)
        self.blocks = nn.ModuleList(ResFFN(embed_dim, hidden_dim) for _ in range(blocks))
        self.out_proj = nn.Linear(embed_dim, dim, bias=False)

    def forward(self, codewords: Tensor, context: Tensor) -> Tensor:
        e = self.in_proj(codewords)
        h = e + self.mix_code(e) + self.mix_context(context)
        for block in self.blocks:
            h = block(h)
        return codewords + self.out_proj(h)

    def reset(self, generator: torch.Generator) -> None:
        """The identity init: f(c, x̂) = c until training moves the zeroed layers."""
        kaiming_uniform_(self.in_proj.weight, generator)
        for layer in (self.mix_code, self.mix_context, self.out_proj):
            nn.init.zeros_(layer.weight)
        nn.init.zeros_(self.mix_code.bias)
        for block in self.blocks:
            block.reset(generator)


# ---------------------------------------------------------------- encoding (pure functions)

def preselect(residual: Tensor, aux_codebook: Tensor, candidates: int) -> Tensor:
    """Indices [n, b, A] of the A auxiliary codewords nearest each beam's residual [n, b, d]."""
    n, b, d = residual.shape
    k = aux_codebook.shape[0]
    if candidates >= k:   # exhaustive: every codeword is a candidate
        return torch.arange(k).expand(n, b, k)
    distances = squared_distances(residual.reshape(n * b, d), aux_codebook).reshape(n, b, k)
    return distances.topk(candidates, dim=2, largest=False).indices


def beam_step(z: Tensor, beams: Tensor, codes: Tensor, codebook: Tensor, aux_codebook: Tensor,
              adapter: Adapter, beam: int, candidates: int) -> tuple[Tensor, Tensor, Tensor]:
    """One step m ≥ 1: beams ẑ [n, b, d] and codes [n, b, m] -> the best ``beam`` extensions.

    Returns (beams [n, b', d], codes [n, b', m + 1], squared errors [n, b']).
    """
    n, b, d = beams.shape
    chosen = preselect(z[:, None] - beams, aux_codebook, candidates)              # [n, b, a]
    a = chosen.shape[2]
    extended = beams[:, :, None] + adapter(codebook[chosen], beams[:, :, None])   # [n, b, a, d]
    errors = (z[:, None, None] - extended).pow(2).sum(-1).reshape(n, b * a)
    errors, best = errors.topk(min(beam, b * a), dim=1, largest=False)
    parents = codes.gather(1, (best // a)[..., None].expand(-1, -1, codes.shape[2]))
    new_codes = torch.cat([parents, chosen.reshape(n, b * a).gather(1, best)[..., None]], 2)
    new_beams = extended.reshape(n, b * a, d).gather(1, best[..., None].expand(-1, -1, d))
    return new_beams, new_codes, errors


def beam_search(z: Tensor, codebooks: Tensor, aux_codebooks: Tensor, adapters: nn.ModuleList,
                beam: int, candidates: int) -> Tensor:
    """Codes [n, M] of normalised z [n, d]: beam search of width ``beam``, final width 1."""
    errors, first = squared_distances(z, codebooks[0]).topk(min(beam, codebooks.shape[1]), dim=1,
                                                             largest=False)
    beams, codes = codebooks[0][first], first[..., None]
    for m, adapter in enumerate(adapters, start=1):
        beams, codes, errors = beam_step(z, beams, codes, codebooks[m], aux_codebooks[m - 1], adapter,
                                         beam, candidates)
    return codes[torch.arange(z.shape[0]), errors.argmin(1)]


# ---------------------------------------------------------------- training helpers

def lr_multiplier(update: int, total: int, warmup: int, floor: float) -> float:
    """Linear warm-up over ``warmup`` updates, then cosine decay from 1 to ``floor`` at ``total``."""
    if update < warmup:
        return (update + 1) / warmup
    progress = min(1.0, (update - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class EpochStats:
    """Codeword usage [M, K] and float64 sums of each step's residual target z − x̂_{m−1}."""

    steps: int
    codebook_size: int
    dim: int
    usage: Tensor = field(init=False)
    total: Tensor = field(init=False)
    squares: Tensor = field(init=False)
    count: int = 0

    def __post_init__(self) -> None:
        self.usage = torch.zeros(self.steps, self.codebook_size, dtype=torch.long)
        self.total = torch.zeros(self.steps, self.dim, dtype=torch.float64)
        self.squares = torch.zeros(self.steps, self.dim, dtype=torch.float64)

    def add(self, codes: Tensor, targets: list[Tensor]) -> None:
        for m, target in enumerate(targets):
            self.usage[m] += torch.bincount(codes[:, m], minlength=self.codebook_size)
            self.total[m] += target.double().sum(0)
            self.squares[m] += target.double().pow(2).sum(0)
        self.count += codes.shape[0]

    def mean_std(self) -> tuple[Tensor, Tensor]:
        mean = self.total / max(1, self.count)
        return mean, (self.squares / max(1, self.count) - mean.pow(2)).clamp_min(0.0).sqrt()


def zero_adam_rows(optimiser: torch.optim.Optimizer, param: Tensor, rows: tuple[Tensor, ...]) -> None:
    """Forget AdamW's moments of ``param[rows]`` (reset codewords start afresh)."""
    for key in ("exp_avg", "exp_avg_sq"):
        if key in optimiser.state.get(param, {}):
            optimiser.state[param][key][rows] = 0.0


class QINCo2(VectorQuantizer):
    """QINCo2 (see the module docstring); ``fit(x, epochs=0)`` keeps the RQ initialisation.

    Parameters: ``codebooks [M, K, dim]`` (C_m), ``aux_codebooks [M − 1, K, dim]`` (A_m) and
    ``adapters`` (f_1 … f_{M−1}); all in normalised units.
    """

    kind = "qinco2"

    def __init__(self, dim: int, steps: int = 4, codebook_size: int = 64, *, blocks: int = 2,
                 embed_dim: int = 32, hidden_dim: int = 32, candidates: int = 8, beam: int = 4,
                 epochs: int = 30, batch_size: int = 1024, lr: float = 8e-4, weight_decay: float = 0.1,
                 grad_clip: float = 0.1, warmup_epochs: float = 3.0, lr_floor: float = 1e-3,
                 init_noise: float = 0.01, rvq_iterations: int = 25, rvq_init: str = "kmeans++") -> None:
        super().__init__(dim, steps, codebook_size)
        self.blocks, self.embed_dim = positive_int(blocks, "blocks"), positive_int(embed_dim, "embed_dim")
        self.hidden_dim = positive_int(hidden_dim, "hidden_dim")
        self.candidates, self.beam = positive_int(candidates, "candidates"), positive_int(beam, "beam")
        self.epochs = _non_negative_int(epochs, "epochs")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.rvq_iterations = positive_int(rvq_iterations, "rvq_iterations")
        if rvq_init not in INITS:
            raise QuantizerError(f"unknown k-means init {rvq_init!r}; use one of {INITS}")
        self.rvq_init = rvq_init
        self.lr, self.weight_decay, self.grad_clip = float(lr), float(weight_decay), float(grad_clip)
        self.warmup_epochs, self.lr_floor = float(warmup_epochs), float(lr_floor)
        self.init_noise = float(init_noise)
        _check_floats(lr=self.lr, weight_decay=self.weight_decay, grad_clip=self.grad_clip,
                      warmup_epochs=self.warmup_epochs, lr_floor=self.lr_floor, init_noise=self.init_noise)
        self.chunk_vectors = max(1, ENCODE_ROWS // (self.beam * min(self.candidates, codebook_size)))
        self.codebooks = nn.Parameter(torch.zeros(steps, codebook_size, dim))
        self.aux_codebooks = nn.Parameter(torch.zeros(steps - 1, codebook_size, dim))
        self.adapters = nn.ModuleList(Adapter(dim, embed_dim, hidden_dim, blocks) for _ in range(steps - 1))
        self._reset_adapters(torch.Generator().manual_seed(0))

    def _extra_config(self) -> dict[str, Any]:
        names = ("blocks", "embed_dim", "hidden_dim", "candidates", "beam", "epochs", "batch_size", "lr",
                 "weight_decay", "grad_clip", "warmup_epochs", "lr_floor", "init_noise", "rvq_iterations",
                 "rvq_init")
        return {name: getattr(self, name) for name in names}

    # ---------------------------------------------------------------- codec

    def _encode_normalised(self, z: Tensor, steps: int) -> Tensor:
        return beam_search(z, self.codebooks[:steps], self.aux_codebooks, self.adapters[: steps - 1],
                           self.beam, self.candidates)

    def _reconstructions(self, codes: Tensor) -> list[Tensor]:
        z_hat = self.codebooks[0][codes[:, 0]]
        out = [z_hat]
        for m in range(1, codes.shape[1]):
            z_hat = z_hat + self.adapters[m - 1](self.codebooks[m][codes[:, m]], z_hat)
            out.append(z_hat)
        return out

    # ---------------------------------------------------------------- training

    def _fit_normalised(self, z: Tensor, *, seed: int, epochs: int | None,
                        progress: bool) -> dict[str, Any]:
        epochs = self.epochs if epochs is None else _non_negative_int(epochs, "epochs")
        rq, rq_report = residual_kmeans(z, self.steps, self.codebook_size, iterations=self.rvq_iterations,
                                        seed=seed, init=self.rvq_init, progress=progress)
        self._initialise(rq, seed)
        variance = float(self.data_std) ** 2   # normalised MSE × σ² = MSE in data units
        init_mse = [v * variance for v in rq_report["mse_normalised"]]
        report = {"epochs": epochs, "rvq_init_mse_per_step": init_mse,
                  "rvq_resets": rq_report["resets"], "loss_per_epoch": [], "resets_per_epoch": []}
        if epochs:
            self._train(z, seed, epochs, progress, report)
        report["resets"] = sum(report["resets_per_epoch"])
        return report

    @torch.no_grad()
    def _initialise(self, rq_codebooks: Tensor, seed: int) -> None:
        """C_m = A_m = RQ codebook + init_noise · std(C_m) · N(0, 1); adapters at identity."""
        generator = torch.Generator().manual_seed(derive_seed(seed, 0, "qinco2-init"))
        noise = torch.randn(rq_codebooks.shape, generator=generator)
        scale = rq_codebooks.flatten(1).std(1)[:, None, None] * self.init_noise
        self.codebooks.copy_(rq_codebooks + noise * scale)
        self.aux_codebooks.copy_(self.codebooks[1:])
        self._reset_adapters(generator)

    def _reset_adapters(self, generator: torch.Generator) -> None:
        for adapter in self.adapters:
            adapter.reset(generator)

    def _train(self, z: Tensor, seed: int, epochs: int, progress: bool, report: dict) -> None:
        optimiser = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        per_epoch = math.ceil(z.shape[0] / self.batch_size)
        total, warmup = epochs * per_epoch, round(min(self.warmup_epochs, epochs / 2) * per_epoch)
        for epoch in tqdm(range(epochs), desc="qinco2", disable=not progress):
            order = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(
                derive_seed(seed, epoch, "qinco2-order")))
            stats, loss_sum = EpochStats(self.steps, self.codebook_size, self.dim), 0.0
            for i, batch in enumerate(order.split(self.batch_size)):
                scale = lr_multiplier(epoch * per_epoch + i, total, warmup, self.lr_floor)
                for group in optimiser.param_groups:
                    group["lr"] = self.lr * scale
                loss_sum += self._train_batch(z[batch], optimiser, stats) * len(batch)
            report["loss_per_epoch"].append(loss_sum / z.shape[0])
            last = epoch == epochs - 1
            reset_seed = derive_seed(seed, epoch, "qinco2-reset")
            report["resets_per_epoch"].append(0 if last else self._reset_unused(stats, reset_seed, optimiser))

    def _train_batch(self, z: Tensor, optimiser: torch.optim.Optimizer, stats: EpochStats) -> float:
        """One AdamW update; returns the batch loss (normalised units)."""
        with torch.no_grad():
            codes = self._encode_normalised(z, self.steps)
        z_hats = self._reconstructions(codes)
        previous = [torch.zeros_like(z)] + [z_hat.detach() for z_hat in z_hats[:-1]]
        loss = sum((z_hat - z).pow(2).mean() for z_hat in z_hats)
        for m in range(1, self.steps):   # substep: A_m[i_m] fits the step's residual target
            loss = loss + (previous[m] + self.aux_codebooks[m - 1][codes[:, m]] - z).pow(2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.parameters(), self.grad_clip)
        optimiser.step()
        stats.add(codes, [z - p for p in previous])
        return float(loss.detach())

    @torch.no_grad()
    def _reset_unused(self, stats: EpochStats, seed: int, optimiser: torch.optim.Optimizer) -> int:
        """Codewords no vector used this epoch <- draws around the epoch's residual statistics."""
        generator = torch.Generator().manual_seed(seed)
        mean, std = stats.mean_std()
        resets = 0
        for m in range(self.steps):
            unused = (stats.usage[m] == 0).nonzero()[:, 0]
            if not len(unused):
                continue
            fresh = (mean[m] + std[m] * torch.randn(len(unused), self.dim, generator=generator,
                                                     dtype=torch.float64)).float()
            self.codebooks[m, unused] = fresh
            zero_adam_rows(optimiser, self.codebooks, (m, unused))
            if m:
                self.aux_codebooks[m - 1, unused] = fresh
                zero_adam_rows(optimiser, self.aux_codebooks, (m - 1, unused))
            resets += len(unused)
        return resets


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise QuantizerError(f"{name} must be an integer ≥ 0, got {value!r}")
    return value


def _check_floats(**values: float) -> None:
    bad = {name: v for name, v in values.items() if not (math.isfinite(v) and v >= 0.0)}
    if bad:
        raise QuantizerError(f"these QINCo2 settings must be finite and ≥ 0: {bad}")
