"""``encodec``: EnCodec (Défossez et al., 2022), through ``transformers.EncodecModel``.

A convolutional + LSTM autoencoder with a residual vector quantiser of codebooks of 1024 entries
(10 bit each). The operating point is ``bandwidth_kbps``, one of the model's target bandwidths
(default: its lowest); the model turns it into Q = ⌊bandwidth / (frame rate · 10 bit)⌋ codebooks,
and each bandwidth is its own row of a codec protocol (``encodec/bandwidth_kbps6``). Released
checkpoints (a hub id downloads one model into the Hugging Face cache on first use: 15 M parameters,
with its codebooks about 93 MB (24 kHz) or 76 MB (48 kHz) of float32, counted from the configs):

======================  ======  ==========  ===========================  =========================
hub id                  rate    frames/s    bandwidths (Q)               input
======================  ======  ==========  ===========================  =========================
facebook/encodec_24khz  24 kHz  75          1.5 (2), 3 (4), 6 (8),       mono, whole clip
                                            12 (16), 24 (32) kbps
facebook/encodec_48khz  48 kHz  150         3 (2), 6 (4), 12 (8),        stereo, 1-s chunks with
                                            24 (16) kbps                 1 % overlap, normalised
======================  ======  ==========  ===========================  =========================

The 48-kHz model is stereo: a mono clip is fed as two equal channels and its two decoded
channels are averaged. It codes 1-s chunks every 0.99 s (each chunk padded to whole frames) and
normalises each chunk by its RMS before coding: that scale is sent with the codes as float32
(32 bit per chunk, as the reference ``.ecdc`` files do) and counted in ``payload_bits``. With the
overlap and the per-chunk padding the codes alone cost ~1-2 % more than the nominal Q·150·10 bit/s
(a 1-s clip at 48 kHz is one chunk plus a 480-sample one: 152 frames and 2 scales); the two
sections' headers (38 bytes per clip) and the scales come on top. The clip is
chunked unpadded, as the reference ``encodec`` library does (transformers' feature extractor
pads to whole chunk strides, which adds chunks). The 24-kHz model codes the whole clip at once,
padded to whole frames. Rates, payload, bit counting and error policy: :mod:`systems.hf_codec`.
``model="tiny-random"`` is a toy EnCodec with random weights (:mod:`systems.tiny.encodec`): its
audio is noise, for offline tests of the plumbing only.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from systems.api import SystemInfo, SystemInputError
from systems.hf_codec import ClipCodes, HFCodec
from systems.tiny import encodec as tiny_encodec


def _check_bandwidth(bandwidth_kbps: Any) -> float | None:
    if bandwidth_kbps is None:
        return None
    number = isinstance(bandwidth_kbps, (int, float, np.integer, np.floating)) and not isinstance(
        bandwidth_kbps, bool)
    if not number or not math.isfinite(bandwidth_kbps) or bandwidth_kbps <= 0:
        raise SystemInputError(f"encodec: bandwidth_kbps must be one of the model's target bandwidths "
                               f"(e.g. 1.5, 3, 6, 12, 24), got {bandwidth_kbps!r}")
    return float(bandwidth_kbps)


class EncodecCodec(HFCodec):
    """EnCodec at ``bandwidth_kbps``: see the module docstring."""

    info = SystemInfo(name="encodec", paper="Défossez et al. 2022, High Fidelity Neural Audio Compression "
                      "(EnCodec), via transformers")
    row_options = ("bandwidth_kbps",)
    model_class = "EncodecModel"
    default_model = "facebook/encodec_24khz"
    downloads = "about 80-95 MB of weights"
    tiny_builder = tiny_encodec

    def __init__(self, model: str | None = None, bandwidth_kbps: float | None = None,
                 sample_rate: int | None = None) -> None:
        super().__init__(model, sample_rate)
        self._wanted = _check_bandwidth(bandwidth_kbps)

    def _check_operating_point(self, net: Any) -> None:
        offered = [float(b) for b in net.config.target_bandwidths]
        if self._wanted is not None and self._wanted not in offered:
            raise SystemInputError(f"encodec: model {self.model!r} codes at bandwidths {offered} kbps, not "
                                   f"{self._wanted:g}; pass one of them as bandwidth_kbps")

    @property
    def bandwidth_kbps(self) -> float:
        return self._wanted if self._wanted is not None else float(self.net.config.target_bandwidths[0])

    @property
    def n_codebooks(self) -> int:
        return int(self.net.quantizer.get_num_quantizers_for_bandwidth(self.bandwidth_kbps))

    @property
    def model_codebooks(self) -> int:
        return int(self.net.config.num_quantizers)

    def config(self) -> dict[str, Any]:
        base = super().config()   # first: it refuses an unloaded codec
        c = self.net.config
        return {**base, "bandwidth_kbps": self.bandwidth_kbps,
                "target_bandwidths": [float(b) for b in c.target_bandwidths],
                "chunk_length_s": c.chunk_length_s, "overlap": c.overlap, "normalize": bool(c.normalize),
                "audio_channels": int(c.audio_channels),
                "mono_in_out": "duplicated to the model's channels; decoded channels averaged",
                "scales": "float32, one per chunk" if c.normalize else None}

    def chunk_frames(self, n_native: int) -> list[int]:
        """One chunk (the whole clip), or the model's chunks every ``chunk_stride`` samples."""
        length, stride = self.net.config.chunk_length, self.net.config.chunk_stride
        if length is None:
            return super().chunk_frames(n_native)
        starts = range(0, n_native, stride)
        return [math.ceil(min(length, n_native - start) / self.hop_length) for start in starts]

    def n_scales(self, n_native: int) -> int:
        return len(self.chunk_frames(n_native)) if self.net.config.normalize else 0

    def _encode_native(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        import torch

        channels = int(self.net.config.audio_channels)
        out = self.net.encode(x[None, None].expand(1, channels, -1), bandwidth=self.bandwidth_kbps)
        # the last chunk's codes come zero-padded to a whole chunk: keep its real frames only
        frames = self.chunk_frames(x.shape[0])
        codes = torch.cat([out.audio_codes[c, 0, :, :f] for c, f in enumerate(frames)], dim=-1)
        scales = [float(s) for s in out.audio_scales] if self.net.config.normalize else []
        return codes.cpu().numpy(), np.asarray(scales, np.float32)

    def _decode_native(self, clip: ClipCodes) -> np.ndarray:
        import torch

        frames = self.chunk_frames(clip.n_native)
        chunks = list(torch.from_numpy(clip.codes).split(frames, dim=-1))
        chunks[-1] = torch.nn.functional.pad(chunks[-1], (0, frames[0] - frames[-1]))
        codes = torch.stack(chunks)[:, None].to(self.device)   # [chunks, 1, Q, frames]
        scales = ([torch.tensor([[s]], device=self.device) for s in clip.scales.tolist()] if clip.scales.size
                  else [None] * len(frames))
        audio = self.net.decode(codes, scales, last_frame_pad_length=frames[0] - frames[-1]).audio_values
        return audio[0].mean(0).float().cpu().numpy()
