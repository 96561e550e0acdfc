"""Exact bit packing of quantiser codes into a self-checking byte payload (what bitrates are measured from).

Layout (little-endian), ``HEADER_BYTES`` = 19 bytes of header, then the body::

    version u8 | op-point hash 4 B | steps M u8 | bits per code u8 | frames F u32 | samples u32 | CRC32 u32
    body: the F·M codes, row-major ([frame][step]), each as ``bits`` bits, most significant bit
          first, concatenated and zero-padded to a whole byte: ceil(F·M·bits / 8) bytes

The op-point hash is the first 4 bytes of sha256(operating-point id), so codes cannot be decoded
by a model of another operating point (same M and bits but other codebooks) without an error.
``samples`` is the clip length the decoder must restore (0 when not applicable). The CRC32
(zlib) covers every header field before it as well as the body (the brief asked for the body;
covering the header too also catches a flipped frame count or clip length).

``payload_bits(data) = 8 · len(data)`` is the figure a bitrate is computed from; ``bit_counts``
also gives the header and body bits and the raw code bits F·M·bits, so a report can show both.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT_VERSION = 1
_FIELDS = struct.Struct("<B4sBBII")   # everything the CRC follows
_CRC = struct.Struct("<I")
HEADER_BYTES = _FIELDS.size + _CRC.size
MAX_BITS_PER_CODE = 32
_U32 = 2**32


class PayloadError(ValueError):
    """A payload is corrupted, truncated, of another format version or of another operating point."""


@dataclass(frozen=True)
class Payload:
    """An unpacked payload: codes ``int64 [frames, steps]`` and the header's facts."""

    codes: np.ndarray
    bits_per_code: int
    n_samples: int
    op_point_hash: bytes

    @property
    def n_frames(self) -> int:
        return int(self.codes.shape[0])

    @property
    def steps(self) -> int:
        return int(self.codes.shape[1])


def op_point_hash(op_point: str) -> bytes:
    """First 4 bytes of sha256 of the operating-point id (e.g. ``"spresso-1hz-m4k64"``)."""
    if not isinstance(op_point, str) or not op_point:
        raise PayloadError(f"op_point must be a non-empty string naming the operating point, got "
                           f"{op_point!r}")
    return hashlib.sha256(op_point.encode("utf-8")).digest()[:4]


def body_bytes(n_frames: int, steps: int, bits_per_code: int) -> int:
    """ceil(F · M · bits / 8): the body's length in bytes."""
    return -(-n_frames * steps * bits_per_code // 8)


def payload_bits(data: bytes) -> int:
    """8 · len(data): the payload's exact size in bits, header included."""
    return 8 * len(data)


# ---------------------------------------------------------------- bit packing (pure functions)

def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Unsigned ``values`` [n] < 2**bits as ``bits`` bits each, MSB first, zero-padded to bytes."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    bit_array = (values.astype(np.uint64)[:, None] >> shifts) & np.uint64(1)
    return np.packbits(bit_array.astype(np.uint8).reshape(-1)).tobytes()


def unpack_bits(body: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of ``pack_bits``: ``count`` values (int64) from ``body``."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    bit_array = np.unpackbits(np.frombuffer(body, np.uint8))[: count * bits].reshape(count, bits)
    return (bit_array.astype(np.uint64) << shifts).sum(1).astype(np.int64)


# ---------------------------------------------------------------- pack / unpack

def pack(codes: Any, bits_per_code: int, *, op_point: str, n_samples: int = 0) -> bytes:
    """Header + body bytes of integer ``codes [frames, steps]``, each code in [0, 2**bits_per_code)."""
    codes = _checked_codes(codes, bits_per_code)
    n_frames, steps = codes.shape
    if not 0 <= n_samples < _U32 or n_frames >= _U32:
        raise PayloadError(f"n_samples ({n_samples}) and frames ({n_frames}) must lie in [0, 2**32)")
    fields = _FIELDS.pack(FORMAT_VERSION, op_point_hash(op_point), steps, bits_per_code, n_frames,
                          int(n_samples))
    body = pack_bits(codes.reshape(-1), bits_per_code)
    return fields + _CRC.pack(zlib.crc32(fields + body)) + body


def unpack(data: bytes, *, op_point: str, steps: int | None = None,
           bits_per_code: int | None = None) -> Payload:
    """The codes of a ``pack``ed payload, checked for integrity and for the operating point.

    ``steps``/``bits_per_code``, when given, must match the header (the decoder's own M and bits).
    """
    data = bytes(data)
    version, op_hash, m, bits, n_frames, n_samples, crc = _read_header(data)
    expected = HEADER_BYTES + body_bytes(n_frames, m, bits)
    if zlib.crc32(data[: _FIELDS.size] + data[HEADER_BYTES:]) != crc:
        if len(data) < expected:
            raise PayloadError(f"payload truncated or its header corrupted (CRC32 mismatch): {len(data)} "
                               f"bytes where the header announces {expected}")
        raise PayloadError("payload corrupted: CRC32 mismatch (a byte was changed after packing)")
    if len(data) != expected:
        raise PayloadError(f"payload has {len(data)} bytes but its header announces {expected}")
    if op_hash != op_point_hash(op_point):
        raise PayloadError(f"payload belongs to another operating point (hash {op_hash.hex()}), not "
                           f"{op_point!r} (hash {op_point_hash(op_point).hex()}); decode it with "
                           "the model it was encoded with")
    for name, want, got in (("steps", steps, m), ("bits_per_code", bits_per_code, bits)):
        if want is not None and want != got:
            raise PayloadError(f"payload has {name}={got}, the decoder expects {want}")
    codes = unpack_bits(data[HEADER_BYTES:], n_frames * m, bits).reshape(n_frames, m)
    return Payload(codes, bits, n_samples, op_hash)


def bit_counts(data: bytes) -> dict[str, int]:
    """payload / header / body bits of a payload, and the raw code bits F·M·bits (no padding)."""
    _, _, m, bits, n_frames, _, _ = _read_header(bytes(data))
    return {"payload_bits": payload_bits(data), "header_bits": 8 * HEADER_BYTES,
            "body_bits": 8 * (len(data) - HEADER_BYTES), "code_bits": n_frames * m * bits}


def _read_header(data: bytes) -> tuple:
    if len(data) < HEADER_BYTES:
        raise PayloadError(f"payload truncated: {len(data)} bytes, shorter than the {HEADER_BYTES}-byte "
                           "header")
    version = data[0]
    if version != FORMAT_VERSION:
        raise PayloadError(f"payload format version {version} is not supported (this reader handles "
                           f"{FORMAT_VERSION}); the payload is corrupted or from another version")
    _, op_hash, m, bits, n_frames, n_samples = _FIELDS.unpack_from(data)
    (crc,) = _CRC.unpack_from(data, _FIELDS.size)
    return version, op_hash, m, bits, n_frames, n_samples, crc


def _checked_codes(codes: Any, bits: int) -> np.ndarray:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS_PER_CODE:
        raise PayloadError(f"bits_per_code must be an integer in [1, {MAX_BITS_PER_CODE}], got {bits!r}")
    codes = np.asarray(codes)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise PayloadError(f"codes must be integers [frames, steps], got {codes.dtype} {codes.shape}")
    if not 1 <= codes.shape[1] <= 255:
        raise PayloadError(f"a payload holds 1 to 255 steps per frame, got {codes.shape[1]}")
    if codes.size and (codes.min() < 0 or codes.max() >= 2**bits):
        raise PayloadError(f"codes must lie in [0, 2**{bits}) for {bits}-bit packing, got values in "
                           f"[{codes.min()}, {codes.max()}]; check bits_per_code = log2(codebook_size)")
    return codes.astype(np.int64)
