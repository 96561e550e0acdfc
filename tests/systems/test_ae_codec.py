"""``ae-codec``: the shared autoencoder's fp16 latents as an exact byte payload (beyond the contract)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from systems import get_system
from systems.ae_codec import FP16, AECodec, bytes_to_latents
from systems.api import SystemInputError
from tests.systems.contract import clips


@pytest.fixture(scope="module")
def codec(micro_components):
    return get_system("ae-codec").from_components(micro_components)


def test_the_payload_is_the_fp16_latents_and_round_trips_exactly(codec, micro_components):
    audio = clips(codec, n=2, duration_s=1.0)
    encoded = codec.encode(audio)
    frames = audio.shape[1] // micro_components.ae.samples_per_frame  # the tail under one frame is dropped
    assert encoded.payload_bits == frames * codec.channels * 16
    assert [8 * len(b) for b in encoded.codes] == [encoded.payload_bits] * 2
    z = micro_components.ae.encode(torch.from_numpy(audio)).numpy()
    np.testing.assert_array_equal(bytes_to_latents(encoded.codes, codec.channels, frames),
                                  z.astype(FP16).astype(np.float32))
    rate = micro_components.ae.latent_rate_hz
    assert codec.bitrate_kbps() == pytest.approx(codec.channels * rate * 16 / 1000) == pytest.approx(8.0)
    out = codec.decode(encoded)
    assert out.shape == audio.shape and np.abs(out[:, frames * codec.samples_per_frame:]).max() == 0


def test_decoding_reads_the_bytes_not_the_latents(codec):
    from dataclasses import replace

    encoded = codec.encode(clips(codec, n=1))
    np.testing.assert_array_equal(codec.decode(replace(encoded, latents=None)), codec.decode(encoded))


def test_config_names_the_autoencoder_and_the_payload(codec, micro_components):
    config = codec.config()
    assert config["system"] == "ae-codec" and config["autoencoder"] == micro_components.hashes["autoencoder"]
    assert "fp16" in config["payload"] and not config["payload"].startswith("nominal")


def test_bad_inputs_are_clear_errors(codec, micro_components):
    from dataclasses import replace

    encoded = codec.encode(clips(codec, n=1))
    with pytest.raises(SystemInputError, match="payload has 10 bytes"):
        codec.decode(replace(encoded, codes=(encoded.codes[0][:10],)))
    with pytest.raises(SystemInputError, match="decodes without steps"):
        codec.decode(encoded, steps=4)
    with pytest.raises(SystemInputError, match=r"expected a batch of mono clips \[B, n\].*audio\[None\]"):
        codec.encode(np.zeros(16000, np.float32))
    with pytest.raises(SystemInputError, match="shorter than one latent frame"):
        codec.encode(np.zeros((1, 100), np.float32))
    with pytest.raises(SystemInputError, match="NaN or Inf"):
        codec.encode(np.full((1, 16000), np.nan, np.float32))
    with pytest.raises(SystemInputError, match=r"does not understand option\(s\) \[.bitrate_kbps.\]"):
        AECodec.from_components(micro_components, bitrate_kbps=4)
