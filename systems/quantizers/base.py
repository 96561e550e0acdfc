"""The interface every vector quantiser implements, and the data normalisation they share.

A quantiser with ``steps`` M and ``codebook_size`` K (a power of 2) turns each vector of
``x [N, dim]`` into M codes in ``[0, K)``: ``bits_per_vector = M · log2 K``. Quantisation is
residual, so every prefix ``codes[:, :m]`` (m ≤ M) decodes on its own at ``m · log2 K`` bits
(the prefix property of §2.4.1: each step is trained on the error left by the steps before it).

Normalisation (QINCo2's, §2.4.1): ``z = (x − μ) / σ`` with the per-dimension mean μ and one
scalar σ = RMS of ``x − μ`` over all entries, both fitted by ``fit`` in float64. The quantisers
work on z; ``decode`` maps back to data units. Errors reported by ``prefix_mse`` and by the fit
reports are per-entry MSE in data units, ``mean((x − x̂)²)``, accumulated in float64.

Subclasses implement ``_fit_normalised`` (z, seed, epochs, progress -> report dict),
``_encode_normalised`` (z, m -> m-step codes) and ``_reconstructions`` (codes [n, m] -> the m partial
reconstructions ẑ_1 … ẑ_m), plus ``_extra_config`` for the settings they add.
"""
from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from systems.quantizers import QuantizerError


def power_of_two_bits(codebook_size: int) -> int:
    """log2 K for K a power of 2 (≥ 2); anything else is refused (codes are packed as whole bits)."""
    if not isinstance(codebook_size, int) or codebook_size < 2 or codebook_size & (codebook_size - 1):
        raise QuantizerError(f"codebook_size must be a power of 2 ≥ 2 so that each code is exactly "
                             f"log2 K bits, got {codebook_size!r}; use e.g. 64, 256 or 4096")
    return codebook_size.bit_length() - 1


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QuantizerError(f"{name} must be a positive integer, got {value!r}")
    return value


class VectorQuantizer(nn.Module, metaclass=abc.ABCMeta):
    """Residual vector quantiser: ``fit``, ``encode`` (x -> codes), ``decode`` (any code prefix -> x̂).

    Buffers (in ``state_dict``): ``data_mean [dim]``, ``data_std []`` and ``is_fitted``; a
    ``load_state_dict`` into an instance with the same ``config()`` restores identical codes.
    """

    kind: ClassVar[str] = ""   # the registry key (systems.quantizers.QUANTIZERS)
    #: vectors per forward chunk in encode/decode (bounds memory; results do not depend on it)
    chunk_vectors: int = 8192

    def __init__(self, dim: int, steps: int, codebook_size: int) -> None:
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.steps = positive_int(steps, "steps")
        self.bits_per_code = power_of_two_bits(codebook_size)
        self.codebook_size = codebook_size
        self.register_buffer("data_mean", torch.zeros(dim))
        self.register_buffer("data_std", torch.ones(()))
        self.register_buffer("is_fitted", torch.zeros((), dtype=torch.bool))

    @property
    def bits_per_vector(self) -> int:
        """M · log2 K: the bits one vector's full code takes."""
        return self.steps * self.bits_per_code

    def config(self) -> dict[str, Any]:
        """Every constructor setting that changes the output (JSON-able; for cache keys).

        ``fit``'s seed and epochs are not settings: they are in the fit report, and a cache key
        must add them (and the data's identity) itself.
        """
        return {"quantizer": self.kind, "dim": self.dim, "steps": self.steps,
                "codebook_size": self.codebook_size, **self._extra_config()}

    def _extra_config(self) -> dict[str, Any]:
        return {}

    # ---------------------------------------------------------------- fit / encode / decode

    def fit(self, x: Tensor, *, seed: int = 0, epochs: int | None = None,
            progress: bool = False) -> dict[str, Any]:
        """Fit the normaliser and the codebooks on ``x [N, dim]`` (N ≥ K); returns a report.

        ``epochs=None`` uses the quantiser's own default (see the subclass).
        """
        x = self._checked_vectors(x, "fit")
        if x.shape[0] < self.codebook_size:
            raise QuantizerError(f"fit needs at least codebook_size={self.codebook_size} vectors, got "
                                 f"{x.shape[0]}; give more data or a smaller codebook_size")
        start = time.perf_counter()
        self.is_fitted.fill_(False)   # a fit that fails half-way must not leave a usable-looking model
        self._fit_normaliser(x)
        report = self._fit_normalised(self.normalise(x), seed=int(seed), epochs=epochs, progress=progress)
        self.is_fitted.fill_(True)
        return {"quantizer": self.kind, "config": self.config(), "seed": int(seed),
                "n_vectors": int(x.shape[0]), "bits_per_vector": self.bits_per_vector, **report,
                "train_mse_per_step": self.prefix_mse(x), "wall_s": time.perf_counter() - start}

    @torch.no_grad()
    def encode(self, x: Tensor, *, steps: int | None = None) -> Tensor:
        """Codes ``LongTensor [N, M]`` of ``x [N, dim]``.

        ``steps=m < M`` searches the best m-step code instead (a lower rate chosen for that rate;
        for greedy RVQ it equals the prefix ``encode(x)[:, :m]``).
        """
        self._check_fitted("encode")
        x = self._checked_vectors(x, "encode")
        steps = self.steps if steps is None else positive_int(steps, "steps")
        if steps > self.steps:
            raise QuantizerError(f"encode: steps={steps} exceeds this quantiser's steps={self.steps}")
        chunks = [self._encode_normalised(self.normalise(part), steps)
                  for part in x.split(self.chunk_vectors)]
        return torch.cat(chunks) if chunks else torch.zeros(0, steps, dtype=torch.long)

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """x̂ ``[N, dim]`` from ``codes [N, m]``, any prefix m ≤ M of a full code (m = 0: the mean)."""
        self._check_fitted("decode")
        codes = self._checked_codes(codes)
        parts = [self._decode_normalised(part) for part in codes.split(self.chunk_vectors)]
        z_hat = torch.cat(parts) if parts else torch.zeros(0, self.dim)
        return self.denormalise(z_hat)

    @torch.no_grad()
    def prefix_mse(self, x: Tensor) -> list[float]:
        """Per-entry MSE (data units) of ``x`` coded with the first m = 1 … M steps."""
        self._check_fitted("prefix_mse")
        x = self._checked_vectors(x, "prefix_mse")
        sums = torch.zeros(self.steps, dtype=torch.float64)
        for part in x.split(self.chunk_vectors):
            codes = self._encode_normalised(self.normalise(part), self.steps)
            for m, z_hat in enumerate(self._reconstructions(codes)):
                sums[m] += (part.double() - self.denormalise(z_hat).double()).pow(2).sum()
        return (sums / max(1, x.numel())).tolist()

    # ---------------------------------------------------------------- normalisation

    def normalise(self, x: Tensor) -> Tensor:
        return (x - self.data_mean) / self.data_std

    def denormalise(self, z: Tensor) -> Tensor:
        return z * self.data_std + self.data_mean

    def _fit_normaliser(self, x: Tensor) -> None:
        x64 = x.double()
        mean = x64.mean(0)
        std = float((x64 - mean).pow(2).mean().sqrt())
        if not std > 0.0:
            raise QuantizerError("fit data has zero variance (every vector is the same); there is "
                                 "nothing to quantise: check the data")
        self.data_mean.copy_(mean.float())
        self.data_std.fill_(std)

    def _decode_normalised(self, codes: Tensor) -> Tensor:
        if codes.shape[1] == 0:   # the zero-rate code: every vector decodes to the data mean
            return torch.zeros(codes.shape[0], self.dim)
        return self._reconstructions(codes)[-1]

    # ---------------------------------------------------------------- subclass hooks

    @abc.abstractmethod
    def _fit_normalised(self, z: Tensor, *, seed: int, epochs: int | None,
                        progress: bool) -> dict[str, Any]:
        """Fit on normalised data ``z [N, dim]``; return report entries."""

    @abc.abstractmethod
    def _encode_normalised(self, z: Tensor, steps: int) -> Tensor:
        """Codes ``[n, steps]`` (int64) of normalised vectors ``z [n, dim]``, 1 ≤ steps ≤ M."""

    @abc.abstractmethod
    def _reconstructions(self, codes: Tensor) -> list[Tensor]:
        """ẑ_1 … ẑ_m (normalised units) of valid ``codes [n, m]``, m ≥ 1."""

    # ---------------------------------------------------------------- input checks

    def _check_fitted(self, what: str) -> None:
        if not bool(self.is_fitted):
            raise QuantizerError(f"{type(self).__name__}.{what} called before fit; call fit(x) first "
                                 "or load_state_dict of a fitted quantiser")

    def _checked_vectors(self, x: Any, what: str) -> Tensor:
        """``x`` as float32 ``[N, dim]``; refuses other shapes and NaN/Inf."""
        x = torch.as_tensor(x)
        if not (x.is_floating_point() and x.ndim == 2 and x.shape[1] == self.dim):
            hint = " (one vector: pass x[None])" if x.ndim == 1 else ""
            raise QuantizerError(f"{what}: expected float vectors [N, dim={self.dim}], got "
                                 f"{x.dtype} {tuple(x.shape)}{hint}")
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).any(1).sum())
            raise QuantizerError(f"{what}: {bad} of {x.shape[0]} vectors contain NaN or Inf; "
                                 "drop or repair them first")
        return x.detach().to("cpu", torch.float32)

    def _checked_codes(self, codes: Any) -> Tensor:
        """``codes`` as int64 ``[N, m]`` with m ≤ M and every code in [0, K)."""
        codes = torch.as_tensor(codes)
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool or codes.ndim != 2:
            raise QuantizerError(f"decode: expected integer codes [N, m], got {codes.dtype} "
                                 f"{tuple(codes.shape)}")
        if codes.shape[1] > self.steps:
            raise QuantizerError(f"decode: codes have {codes.shape[1]} steps but this quantiser has "
                                 f"steps={self.steps}; pass codes[:, :{self.steps}] or the right model")
        codes = codes.to("cpu", torch.long)
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise QuantizerError(f"decode: codes must lie in [0, {self.codebook_size}), got values in "
                                 f"[{int(codes.min())}, {int(codes.max())}]; were they made by a "
                                 "quantiser with another codebook_size?")
        return codes

