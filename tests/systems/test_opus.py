"""``opus``: Ogg/Opus through libsndfile: round trip, alignment, measured bitrate, payload accounting,
determinism and clear errors. Numbers checked here are the ones ``systems/opus.py`` documents."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from metrics.si_sdr import si_sdr
from systems import get_system
from systems.api import Encoded, SystemInputError
from systems.opus import (
    MAX_BITRATE_KBPS,
    MIN_BITRATE_KBPS,
    OpusCodec,
    compression_level,
    encoder_bitrate_bps,
    ogg_opus_layout,
)

SR = 16000
HEADER_BYTES = 869  # OpusHead page (47) + OpusTags page (822) as libsndfile 1.2.2 writes them


def noise(n_clips: int = 2, seconds: float = 2.0, rate: int = SR, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal((n_clips, round(seconds * rate)))).astype(
        np.float32)


def sine(freq: float = 440.0, seconds: float = 2.0, rate: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t))[None].astype(np.float32)


def packets_kbps(codec: OpusCodec, audio: np.ndarray) -> float:
    """Mean rate of the Opus packets alone (container left out) over the clips of ``audio``."""
    layouts = codec.layouts(codec.encode(audio))
    return float(np.mean([lay.packet_bytes for lay in layouts])) * 8 / (audio.shape[1] / SR) / 1000


def test_registered_as_a_codec_with_a_json_config():
    codec = get_system("opus").from_components(SimpleNamespace(ae=SimpleNamespace(sample_rate=SR)),
                                               bitrate_kbps=12)
    assert isinstance(codec, OpusCodec) and codec.kind == "codec" and codec.load("cuda") is codec
    config = codec.config()
    json.dumps(config)
    assert config["system"] == "opus" and config["bitrate_kbps"] == 12.0
    assert config["libsndfile"] == sf.__libsndfile_version__ and config["libopus"].startswith("libopus ")
    assert config["encoder_bitrate_bps"] == 12000 and config["resampler"] is None
    assert codec.bitrate_kbps() == 12.0 and OpusCodec().bitrate_kbps() == MIN_BITRATE_KBPS == 6.0


def test_compression_level_inverts_libsndfiles_bitrate_map_exactly():
    for kbps in [*range(6, 257), 6.5, 12.345]:
        assert encoder_bitrate_bps(compression_level(kbps)) == round(kbps * 1000)
    assert compression_level(MAX_BITRATE_KBPS) == 0.0 and 0.999 < compression_level(MIN_BITRATE_KBPS) < 1


def test_libsndfile_refuses_a_bitrate_mode_for_opus():
    """Why the codec has no bitrate_mode: libsndfile 1.2.2 implements it for MP3 only."""
    with pytest.raises(sf.LibsndfileError, match="bitrate mode"):
        sf.write(io.BytesIO(), noise(1)[0], SR, format="OGG", subtype="OPUS", compression_level=0.5,
                 bitrate_mode="CONSTANT")


@pytest.mark.parametrize("rate, samples", [(8000, 8000), (16000, 32007), (48000, 4801), (44100, 22050),
                                           (16000, 1)])
def test_round_trip_keeps_shape_rate_and_length(rate, samples):
    codec = OpusCodec(rate, 24)
    audio = noise(3, samples / rate, rate)
    encoded = codec.encode(audio)
    assert (encoded.num_samples, encoded.sample_rate, encoded.frame_rate_hz) == (samples, rate, 50.0)
    out = codec.decode(encoded)
    assert out.shape == audio.shape and out.dtype == np.float32 and np.abs(out).max() <= 1.0
    assert codec.config()["coding_rate_hz"] == (48000 if rate == 44100 else rate)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_decoded_audio_is_aligned_with_the_input(rate):
    """Pre-skip is removed by libsndfile: the decoded clip lags its input by 0 samples."""
    audio = noise(1, 1.0, rate)
    out = OpusCodec(rate, 128).decode(OpusCodec(rate, 128).encode(audio))
    lags = np.arange(-400, 401)
    corr = [np.dot(out[0, max(k, 0): len(out[0]) + min(k, 0)], audio[0, max(-k, 0): len(out[0]) - max(k, 0)])
            for k in lags]
    assert lags[int(np.argmax(corr))] == 0


def test_payload_bits_are_the_files_bits_and_the_header_is_fixed():
    codec = OpusCodec(SR, 6)
    short, long = (codec.encode(np.zeros((1, round(s * SR)), np.float32)) for s in (1.0, 2.0))
    for encoded in (short, long):
        data = encoded.codes[0]
        assert encoded.payload_bits == 8 * len(data) == codec.clip_bits(encoded)[0]
        layout = ogg_opus_layout(data)
        assert layout.total_bytes == len(data) and layout.header_bytes == HEADER_BYTES
    assert ogg_opus_layout(short.codes[0]).packets == 51 and ogg_opus_layout(long.codes[0]).packets == 101


def test_a_batch_reports_the_mean_clip_size_rounded_up():
    codec = OpusCodec(SR, 24)
    audio = np.concatenate([noise(1), np.zeros((1, 2 * SR), np.float32)])  # VBR: very different sizes
    encoded = codec.encode(audio)
    bits = codec.clip_bits(encoded)
    assert bits[0] > 2 * bits[1] and encoded.payload_bits == -(-sum(bits) // 2)


def test_measured_bitrate_follows_the_target():
    """Packets within 25 % of the target on noise (6 % from 24 kbps up), file rate monotone in it."""
    audio = noise(2)
    targets = (6, 12, 24, 64)
    measured = [packets_kbps(OpusCodec(SR, t), audio) for t in targets]
    for target, kbps in zip(targets, measured):
        assert abs(kbps - target) <= (0.06 if target >= 24 else 0.25) * target, (target, kbps)
    files = [OpusCodec(SR, t).encode(audio).bitrate_kbps for t in targets]
    assert files == sorted(files) and measured == sorted(measured)
    overhead_kbps = HEADER_BYTES * 8 / 2.0 / 1000
    assert files[0] - measured[0] > overhead_kbps  # the container's share is in payload_bits


def test_si_sdr_improves_with_bitrate():
    audio = noise(1)
    scores = [si_sdr(OpusCodec(SR, t).decode(OpusCodec(SR, t).encode(audio)), audio)[0]
              for t in (6, 12, 24, 64)]
    assert scores == sorted(scores) and scores[-1] - scores[0] > 20
    tone = sine()
    low, high = (si_sdr(OpusCodec(SR, t).decode(OpusCodec(SR, t).encode(tone)), tone)[0] for t in (6, 24))
    assert high > low + 5  # a tone is not monotone in between: libopus switches modes near 16 kbps


def test_equal_input_gives_equal_bytes_whatever_the_batch():
    codec, audio = OpusCodec(SR, 12), noise(3, 0.5)
    together = codec.encode(audio).codes
    assert together == codec.encode(audio).codes  # the Ogg serial number is fixed, CRCs redone
    assert together == tuple(codec.encode(audio[i: i + 1]).codes[0] for i in range(3))


# ---------------------------------------------------------------- clear errors


@pytest.mark.parametrize("kwargs, message", [
    ({"bitrate_kbps": 5}, r"bitrate_kbps must be a number in \[6, 256\]"),
    ({"bitrate_kbps": 300}, r"bitrate_kbps must be a number in \[6, 256\]"),
    ({"bitrate_kbps": True}, "bitrate_kbps must be a number"),
    ({"bitrate_kbps": "6"}, "bitrate_kbps must be a number"),
    ({"sample_rate": 96000}, "at most 48 kHz.*resample the clips to 48000 Hz"),
    ({"sample_rate": 0}, "sample_rate must be a positive integer"),
    ({"sample_rate": 16000.0}, "sample_rate must be a positive integer"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(SystemInputError, match=message):
        OpusCodec(**kwargs)


def test_unknown_setting_names_the_known_ones():
    with pytest.raises(SystemInputError, match=r"does not understand option\(s\) \['mode'\].*bitrate_kbps"):
        OpusCodec.from_components(SimpleNamespace(ae=SimpleNamespace(sample_rate=SR)), mode="CONSTANT")


@pytest.mark.parametrize("audio, message", [
    (np.zeros((2, 2, SR), np.float32), r"mono clips \[B, n\].*audio.mean\(axis=1\)"),
    (np.zeros(SR, np.float32), r"audio\[None\]"),
    (np.zeros((0, SR), np.float32), "empty audio"),
    (np.zeros((1, 0), np.float32), "empty audio"),
    (np.array([[0.0, np.nan, 0.0]] * 2), r"clips \[0, 1\] contain NaN or Inf"),
    (np.array([["a", "b"]]), "real float samples"),
])
def test_bad_audio_is_refused(audio, message):
    with pytest.raises(SystemInputError, match=message):
        OpusCodec().encode(audio)


def test_payload_at_another_rate_or_with_steps_is_refused():
    encoded = OpusCodec(SR).encode(noise(1, 0.2))
    with pytest.raises(SystemInputError, match="payload is at 16000 Hz but this codec works at 8000 Hz"):
        OpusCodec(8000).decode(encoded)
    with pytest.raises(SystemInputError, match="decodes without steps"):
        OpusCodec(SR).decode(encoded, steps=4)


def corrupt(data: bytes, how: str) -> bytes:
    if how == "garbage":
        return b"not an ogg file" * 20
    if how == "truncated":
        return data[: len(data) * 2 // 3]
    flipped = bytearray(data)
    flipped[30 if how == "header" else len(data) * 2 // 3] ^= 0xFF
    return bytes(flipped)


@pytest.mark.parametrize("how, message", [
    ("garbage", r"corrupted or not Ogg/Opus \(libsndfile: Format not recognised"),
    ("header", r"corrupted or not Ogg/Opus \(libsndfile: .*malformed"),
    ("truncated", "truncated or corrupted"),
    ("audio", "truncated or corrupted"),  # libogg's CRC check drops the damaged page
])
def test_corrupted_payload_is_a_clear_error(how, message):
    codec = OpusCodec(SR, 32)
    encoded = codec.encode(noise(1))
    broken = Encoded((corrupt(encoded.codes[0], how),), None, 50.0, 1, encoded.num_samples, SR)
    with pytest.raises(SystemInputError, match=message):
        codec.decode(broken)


def test_other_audio_files_are_not_taken_for_a_payload():
    wav = io.BytesIO()
    sf.write(wav, noise(1, 0.2)[0], SR, format="WAV")
    encoded = Encoded((wav.getvalue(),), None, 50.0, 1, round(0.2 * SR), SR)
    with pytest.raises(SystemInputError, match="is WAV/PCM_16.*expected mono OGG/OPUS at 16000 Hz"):
        OpusCodec(SR).decode(encoded)
    with pytest.raises(SystemInputError, match="no per-clip Ogg/Opus bytes"):
        OpusCodec(SR).decode(Encoded(None, np.zeros((1, 10)), 50.0, 1, 10, SR))
    with pytest.raises(SystemInputError, match="code is str, expected the bytes"):
        OpusCodec(SR).decode(Encoded(("abc",), None, 50.0, 1, 10, SR))
