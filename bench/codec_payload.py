"""A codec's payload as bytes: what a codec run stores, reads back and measures its bitrate from.

Per clip, the payload is one ``bytes`` object:

- ``codec.to_bytes(encoded) -> list[bytes]`` (and ``codec.from_bytes(blobs, like=encoded) ->
  Encoded``) when the codec defines them;
- else ``Encoded.codes`` itself when it is a sequence of one ``bytes`` per clip (``opus``: each
  clip's Ogg/Opus file; ``ae-codec``: each clip's fp16 latents). The decoder then gets an
  ``Encoded`` whose ``codes`` are the bytes read back from disk and whose ``latents`` are None,
  so it decodes from the stored bytes alone.

An anchor with a nominal payload (``config()["payload"]`` starting with "nominal", the low-pass
anchor) has no bytes: it decodes from memory and its rate is the nominal ``payload_bits``,
flagged ``nominal`` wherever it is shown.

Measured bitrate of a clip: ``8 · len(bytes) / duration`` (Ogg container included for Opus).
The row's kbps is the mean over clips, with a seeded bootstrap CI over clips like the metrics';
``Encoded.payload_bits`` (per clip, the batch mean rounded up where sizes differ) must agree with
the bytes within one bit, or the run stops: a codec that declares another size than it sends is
a bug.
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from pathlib import Path

import numpy as np

from bench.entries import RunError

KBPS_BASIS = "payload bytes × 8 / clip duration, per clip; mean over clips"
NOMINAL_BASIS = "nominal (an anchor, not a compressed payload): Encoded.payload_bits / clip duration"


def clip_payloads(codec, encoded) -> list[bytes]:
    """One ``bytes`` per clip of ``encoded`` (see the module docstring), or a RunError saying what to do."""
    if callable(getattr(codec, "to_bytes", None)):
        blobs = list(codec.to_bytes(encoded))
    elif isinstance(encoded.codes, (tuple, list)):
        blobs = list(encoded.codes)
    else:
        blobs = []
    n = _clips_in(encoded)
    if len(blobs) != n or not all(isinstance(b, (bytes, bytearray)) for b in blobs):
        raise RunError(f"codec {codec.info.name!r}: its payload is not one bytes object per clip "
                       f"(Encoded.codes is {type(encoded.codes).__name__}); give Encoded.codes as a tuple of "
                       "per-clip bytes, "
                       "or define to_bytes(encoded) / from_bytes(blobs, like=encoded), so that the run "
                       "measures the bits it sends")
    return [bytes(b) for b in blobs]


def _clips_in(encoded) -> int:
    for field in (encoded.codes, encoded.latents):
        if isinstance(field, (tuple, list)) or hasattr(field, "shape"):
            return len(field)
    return 0


def check_declared_bits(codec, encoded, blobs: list[bytes]) -> None:
    """``Encoded.payload_bits`` (per clip) agrees with the bytes (their mean, within one bit)."""
    measured = sum(8 * len(b) for b in blobs) / len(blobs)
    if abs(encoded.payload_bits - measured) > 1.0:
        raise RunError(f"codec {codec.info.name!r} declares payload_bits={encoded.payload_bits} per clip "
                       f"but its bytes hold {measured:g} bits per clip; Encoded.payload_bits must count "
                       "the bytes it sends")


def write_payloads(folder: Path, ids: list[str], blobs: list[bytes]) -> None:
    """``folder/<id>.bin`` per clip (a temporary name, then renamed: a kill leaves no half file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for item_id, data in zip(ids, blobs):
        tmp = folder / f"{item_id}.bin.tmp"
        tmp.write_bytes(data)
        tmp.replace(folder / f"{item_id}.bin")


def read_payloads(folder: Path, ids: list[str]) -> list[bytes]:
    return [(folder / f"{item_id}.bin").read_bytes() for item_id in ids]


def from_payloads(codec, encoded, blobs: list[bytes]):
    """The ``Encoded`` the decoder gets: rebuilt from ``blobs`` alone (side facts from ``encoded``)."""
    if callable(getattr(codec, "from_bytes", None)):
        return codec.from_bytes(blobs, like=encoded)
    return dataclasses.replace(encoded, codes=tuple(blobs), latents=None)


def kbps_metric(bits: list[int], duration_s: float, *, bootstrap: int, seed: int, nominal: bool,
                level: float = 0.95) -> dict:
    """The row's measured rate in the metric schema: mean kbps over clips, seeded bootstrap CI."""
    from metrics.intervals import bootstrap_interval

    kbps = np.asarray(bits, np.float64) / duration_s / 1000.0
    value = float(kbps.mean())
    out = {"value": value, "ci_low": None, "ci_high": None, "higher_is_better": False, "status": "ok",
           "details": {"n": len(kbps), "min": float(kbps.min()), "max": float(kbps.max()),
                       "duration_s": duration_s, "bits_total": int(sum(bits)),
                       "basis": NOMINAL_BASIS if nominal else KBPS_BASIS},
           "flags": ["nominal"] if nominal else []}
    if bootstrap >= 2:
        rng = np.random.default_rng([seed, zlib.crc32(b"kbps")])
        reps = [float(kbps[rng.integers(0, len(kbps), len(kbps))].mean()) for _ in range(bootstrap)]
        ci = bootstrap_interval(value, reps, level, (0.0, math.inf))
        out.update(ci_low=ci["ci"][0], ci_high=ci["ci"][1], ci_method=ci["ci_method"] + f", seed={seed}")
    return out
