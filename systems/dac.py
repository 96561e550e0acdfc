"""``dac``: the Descript Audio Codec (Kumar et al., 2023), through ``transformers.DacModel``.

A convolutional autoencoder with a residual vector quantiser of Q codebooks of 1024 entries
(10 bit each), trained with quantiser dropout, so the first q ≤ Q codebooks alone give a lower
rate: ``n_codebooks`` (default: all of them) is the operating point, and each value is its own
row of a codec protocol (``dac/n_codebooks4``). Released checkpoints (a hub id downloads one
model of 74-77 M parameters, about 300 MB of float32, into the Hugging Face cache on first use):

======================  ========  ======  ==========  =====================================
hub id                  rate      hop     frames/s    bitrate: per codebook / all of them
======================  ========  ======  ==========  =====================================
descript/dac_16khz      16 kHz    320     50          0.5 kbps / 12 codebooks = 6 kbps
descript/dac_24khz      24 kHz    320     75          0.75 kbps / 32 codebooks = 24 kbps
descript/dac_44khz      44.1 kHz  512     86.13       0.86 kbps / 9 codebooks = 7.75 kbps
======================  ========  ======  ==========  =====================================

Each clip is zero-padded to whole frames (a multiple of the hop, as ``DacFeatureExtractor`` does:
the encoder needs it), coded with the first ``n_codebooks`` quantisers, decoded from the codes
alone and cut back to its length. Rates, payload, bit counting and error policy:
:mod:`systems.hf_codec`. ``model="tiny-random"`` is a toy DAC with random weights
(:mod:`systems.tiny.dac`): its audio is noise, for offline tests of the plumbing only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from systems.api import SystemInfo, SystemInputError
from systems.hf_codec import ClipCodes, HFCodec, positive_int
from systems.tiny import dac as tiny_dac


class DACCodec(HFCodec):
    """DAC at ``n_codebooks`` residual codebooks: see the module docstring."""

    info = SystemInfo(name="dac", paper="Kumar et al. 2023, High-Fidelity Audio Compression with Improved "
                      "RVQGAN (Descript Audio Codec), via transformers")
    row_options = ("n_codebooks",)
    model_class = "DacModel"
    default_model = "descript/dac_16khz"
    downloads = "about 300 MB of weights"
    tiny_builder = tiny_dac

    def __init__(self, model: str | None = None, n_codebooks: int | None = None,
                 sample_rate: int | None = None) -> None:
        super().__init__(model, sample_rate)
        self._wanted = None if n_codebooks is None else positive_int(n_codebooks, "n_codebooks", "dac")

    def _check_operating_point(self, net: Any) -> None:
        have = int(net.config.n_codebooks)
        if self._wanted is not None and self._wanted > have:
            raise SystemInputError(f"dac: n_codebooks={self._wanted}, but model {self.model!r} has {have} "
                                   f"codebooks; pass 1 to {have} (or leave it unset for all {have})")

    @property
    def n_codebooks(self) -> int:
        return self._wanted or self.model_codebooks

    @property
    def model_codebooks(self) -> int:
        return int(self.net.config.n_codebooks)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "padding": "zeros to whole frames (a multiple of the hop)"}

    def _encode_native(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        import torch

        frames = self.chunk_frames(x.shape[0])[0]
        padded = torch.nn.functional.pad(x, (0, frames * self.hop_length - x.shape[0]))
        codes = self.net.encode(padded[None, None], n_quantizers=self.n_codebooks).audio_codes
        return codes[0].cpu().numpy(), np.zeros(0, np.float32)

    def _decode_native(self, clip: ClipCodes) -> np.ndarray:
        import torch

        codes = torch.from_numpy(clip.codes)[None].to(self.device)
        return self.net.decode(audio_codes=codes).audio_values[0].float().cpu().numpy()
