"""S-PRESSO's payload: the z frames of one clip as self-checking bytes (systems-reference §2.4 (2)).

Both forms use :mod:`systems.quantizers.payload` (19-byte header with the operating point's hash,
the frame count, the clip length and a CRC32; then the body bit-packed exactly), so the measured
bitrate is ``8·len(bytes)/duration`` and a payload of another operating point, a truncated or an
altered one is refused before any decoding:

- :class:`CodePayload` (discrete): the quantiser's M codes of log2 K bits per z frame, body
  ``⌈Fz·M·log2 K / 8⌉`` bytes (``bitrate = frame_rate(z) × M × log2 K``).
- :class:`Float16Payload` (the continuous variant, no quantiser): each of the d_z values of a frame
  as its IEEE half-precision bit pattern, 16 bits (``frame_rate × d_z × bits_per_float`` with
  bits_per_float = 16). fp16 → bits → fp16 is exact, so the decoder sees ``z.half()`` bit for bit.

Errors name the clip and say what to do (:class:`~systems.api.SystemInputError`).
"""
from __future__ import annotations

import abc
from typing import Sequence

import numpy as np
import torch

from systems.api import SystemInputError
from systems.quantizers.payload import Payload, PayloadError, pack, unpack
from systems.tasks.spresso import frames_of, from_frames

FLOAT_BITS = 16                               # the continuous variant's bits per value (fp16)
FP16_MAX = float(np.finfo(np.float16).max)    # 65504: larger |z| would become inf


def op_point_id(time_factor: int, channel_factor: int, quantizer: str, steps: int | None,
                codebook_size: int | None, weights: str) -> str:
    """A short id of the operating point and of the encoder side that gives its codes their meaning
    (``weights``: the hash of g_ψ's and the quantiser's trainings), e.g.
    ``spresso-t8c2-qinco2-m4k64-1a2b3c4d`` (continuous: ``spresso-t8c2-fp16-…``). Its hash is in every
    payload header, so codes of another operating point, or of another training of it, are refused,
    while the diffusion and the regression decoder of one encoder read the same payloads."""
    code = "fp16" if quantizer == "none" else f"{quantizer}-m{steps}k{codebook_size}"
    return f"spresso-t{time_factor}c{channel_factor}-{code}-{weights[:8]}"


class _Payload(abc.ABC):
    """What both forms share: per-clip packing and checked unpacking of integer frames."""

    bits_per_value: int
    values_per_frame: int

    def __init__(self, op_point: str) -> None:
        self.op_point = op_point

    @property
    def bits_per_frame(self) -> int:
        return self.values_per_frame * self.bits_per_value

    def to_bytes(self, z: torch.Tensor, n_samples: int) -> tuple[bytes, ...]:
        """One payload per clip of z [B, d_z, Fz]; ``n_samples`` is the clips' length (in the header)."""
        values = self._values(frames_of(z.detach().cpu().float())).reshape(z.shape[0], z.shape[2], -1)
        return tuple(pack(clip, self.bits_per_value, op_point=self.op_point, n_samples=n_samples)
                     for clip in values)

    def from_bytes(self, codes: Sequence[bytes], n_samples: int, z_frames: int) -> torch.Tensor:
        """z [B, d_z, Fz] of the payloads; each must hold ``z_frames`` frames of a clip of ``n_samples``."""
        values = [self._read(data, i, n_samples, z_frames).codes for i, data in enumerate(codes)]
        return from_frames(self._vectors(np.concatenate(values)), len(values))

    def _read(self, data, index: int, n_samples: int, z_frames: int) -> Payload:
        if not isinstance(data, (bytes, bytearray)):
            raise SystemInputError(f"spresso: clip {index}'s code is {type(data).__name__}, expected the "
                                   "payload bytes SPresso.encode returned")
        try:
            payload = unpack(data, op_point=self.op_point, steps=self.values_per_frame,
                             bits_per_code=self.bits_per_value)
        except PayloadError as error:
            raise SystemInputError(f"spresso: clip {index}'s payload cannot be decoded by this model "
                                   f"({self.op_point}): {error}") from None
        if payload.n_samples != n_samples or payload.n_frames != z_frames:
            raise SystemInputError(f"spresso: clip {index}'s payload codes {payload.n_samples} samples in "
                                   f"{payload.n_frames} z frames, but the batch says {n_samples} samples "
                                   f"({z_frames} frames); keep each payload with the Encoded it came in")
        return payload

    @abc.abstractmethod
    def _values(self, vectors: torch.Tensor) -> np.ndarray:
        """Integer values [N, values_per_frame] of z frame vectors [N, d_z]."""

    @abc.abstractmethod
    def _vectors(self, values: np.ndarray) -> torch.Tensor:
        """Inverse of :meth:`_values`: float32 frame vectors [N, d_z]."""


class CodePayload(_Payload):
    """M codes of log2 K bits per z frame (the fitted ``quantizer`` encodes and decodes them)."""

    def __init__(self, quantizer, op_point: str) -> None:
        super().__init__(op_point)
        self.quantizer = quantizer
        self.bits_per_value, self.values_per_frame = quantizer.bits_per_code, quantizer.steps

    def _values(self, vectors: torch.Tensor) -> np.ndarray:
        return self.quantizer.encode(vectors).numpy()

    def _vectors(self, values: np.ndarray) -> torch.Tensor:
        return self.quantizer.decode(torch.from_numpy(values))


class Float16Payload(_Payload):
    """The d_z values of each z frame as fp16 bit patterns (the continuous variant)."""

    bits_per_value = FLOAT_BITS

    def __init__(self, z_channels: int, op_point: str) -> None:
        super().__init__(op_point)
        self.values_per_frame = z_channels

    def _values(self, vectors: torch.Tensor) -> np.ndarray:
        if not torch.isfinite(vectors).all() or vectors.abs().max() > FP16_MAX:
            raise SystemInputError(f"spresso: z holds values that are not finite or exceed fp16's range "
                                   f"(|z| ≤ {FP16_MAX:g}); the encoder's weights are broken: retrain")
        return vectors.half().numpy().view(np.uint16).astype(np.int64)

    def _vectors(self, values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values.astype(np.uint16).view(np.float16).astype(np.float32))
