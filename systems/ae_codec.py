"""``ae-codec``: the shared autoencoder alone, as a codec: the continuous upper bound of latent codecs.

Every latent codec of the benchmark (S-PRESSO and its quantisers) codes the shared autoencoder's
latents and decodes through the same decoder; this codec sends those latents unquantised, so
it scores what any of them could at best reach through this autoencoder and Griffin-Lim.

- ``encode``: the autoencoder's normalised latents [B, C, F] (C latent channels, F frames at
  ``latent_rate_hz``; the clip's last ``n mod (2·hop)`` samples, less than one frame, are not
  covered), rounded to IEEE fp16. ``codes``: one ``bytes`` per clip, the C·F fp16 values
  little-endian, channel-major (``[C, F]`` in C order): the payload, exactly
  ``payload_bits = F·C·16`` bits, no header (the clip length and rate travel in ``Encoded``).
  ``latents``: the same fp16 values as an array (for inspection; ``decode`` reads the bytes).
- ``decode``: the bytes back to fp16 → float32 latents (an exact round trip), the autoencoder's
  decoder and Griffin-Lim (the preset's iterations, fixed initial phase: deterministic), clipped
  to [-1, 1] and zero-padded to the clip's length.

Nominal rate: C · latent_rate_hz · 16 bit, 16 · 31.25 · 16 = 8 kbps at the ``tiny`` preset
(16 kHz, hop 256, 16 latent channels); every clip costs exactly that.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from common.audio_io import pad_to
from systems.api import Codec, Encoded, SystemInfo, SystemInputError, check_options
from systems.codec_input import check_codec_audio, check_decode_request

FP16 = np.dtype("<f2")  # the payload's sample format: IEEE half precision, little-endian
BITS_PER_VALUE = 16


def latents_to_bytes(latents: np.ndarray) -> tuple[bytes, ...]:
    """One payload per clip: ``latents`` [B, C, F] as fp16 little-endian bytes (C order)."""
    half = np.asarray(latents, np.float32).astype(FP16)
    if not np.isfinite(half).all():
        raise SystemInputError("ae-codec: a latent overflows fp16 (|z| > 65504); the clip is outside "
                               "what the autoencoder was trained on")
    return tuple(np.ascontiguousarray(clip).tobytes() for clip in half)


def bytes_to_latents(payloads, channels: int, frames: int) -> np.ndarray:
    """float32 [B, C, F] from per-clip fp16 payloads; a payload of the wrong size is an error."""
    if not isinstance(payloads, (tuple, list)) or not payloads:
        raise SystemInputError("ae-codec: the payload has no per-clip bytes in codes; decode only what "
                               "AECodec.encode returned")
    want = channels * frames * FP16.itemsize
    out = []
    for i, data in enumerate(payloads):
        if not isinstance(data, (bytes, bytearray)):
            raise SystemInputError(f"ae-codec: clip {i}'s code is {type(data).__name__}, expected bytes")
        if len(data) != want:
            raise SystemInputError(f"ae-codec: clip {i}'s payload has {len(data)} bytes, {want} expected "
                                   f"({channels} channels × {frames} frames × 2 bytes): it is truncated, "
                                   "or from an autoencoder with another latent size")
        out.append(np.frombuffer(bytes(data), dtype=FP16).reshape(channels, frames))
    return np.stack(out).astype(np.float32)


class AECodec(Codec):
    """The shared autoencoder's fp16 latents as the payload: see the module docstring."""

    info = SystemInfo(name="ae-codec", paper="the shared mel autoencoder + Griffin-Lim with its latents "
                      "sent unquantised as fp16: the continuous upper bound of the latent codecs")

    def __init__(self, ae, autoencoder_hash: str | None = None) -> None:
        self.ae = ae
        self.autoencoder_hash = autoencoder_hash
        self.sample_rate = int(ae.sample_rate)
        self.channels = int(ae.latent_channels)
        self.samples_per_frame = int(ae.samples_per_frame)

    @classmethod
    def from_components(cls, components: Any, **config: Any) -> AECodec:
        check_options(config, (), cls.info.name)
        return cls(components.ae, components.hashes.get("autoencoder"))

    def load(self, device: str = "cpu") -> AECodec:
        self.ae.to(device)
        return self

    def config(self) -> dict[str, Any]:
        return {**super().config(), "autoencoder": self.autoencoder_hash, "sample_rate": self.sample_rate,
                "latent_channels": self.channels, "latent_rate_hz": self.ae.latent_rate_hz,
                "payload": "the autoencoder's latents as fp16 (16 bit per value), no header",
                "decoder": f"autoencoder + Griffin-Lim ({self.ae.frontend.config.griffin_lim_iters} iters)"}

    def bitrate_kbps(self) -> float:
        """C · latent_rate_hz · 16 bit (8 kbps at the tiny preset)."""
        return float(self.channels * self.ae.latent_rate_hz * BITS_PER_VALUE / 1000)

    def frames_of(self, num_samples: int) -> int:
        return num_samples // self.samples_per_frame

    def encode(self, audio: np.ndarray) -> Encoded:
        """fp16 latents of ``audio`` float32 [B, n] (n ≥ one latent frame of samples)."""
        import torch

        x = self._check_audio(audio)
        z = self.ae.encode(torch.from_numpy(x).to(self._device())).float().cpu().numpy()
        codes = latents_to_bytes(z)
        frames = z.shape[-1]
        return Encoded(codes=codes, latents=z.astype(FP16), frame_rate_hz=float(self.ae.latent_rate_hz),
                       payload_bits=frames * self.channels * BITS_PER_VALUE, num_samples=x.shape[1],
                       sample_rate=self.sample_rate)

    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        """Audio float32 [B, num_samples] in [-1, 1] from the payload's bytes (``codes``)."""
        import torch

        check_decode_request(encoded, steps, self.sample_rate, "ae-codec")
        frames = self.frames_of(encoded.num_samples)
        z = bytes_to_latents(encoded.codes, self.channels, frames)
        wav = self.ae.decode(torch.from_numpy(z).to(self._device())).float().cpu().numpy()
        wav = pad_to(wav[:, : encoded.num_samples], encoded.num_samples)
        return np.clip(wav, -1.0, 1.0).astype(np.float32)

    def _device(self):
        return next(self.ae.net.parameters()).device

    def _check_audio(self, audio: Any) -> np.ndarray:
        return check_codec_audio(audio, "ae-codec", min_samples=self.samples_per_frame,
                                 too_short=f"one latent frame at {self.sample_rate} Hz")
