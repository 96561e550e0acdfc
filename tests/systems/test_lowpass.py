"""``lowpass-anchor``: the MUSHRA 3.5-kHz anchor: closed-form tone responses, zero phase, the
nominal (not compressed) payload, determinism and clear errors."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from systems import get_system
from systems.api import Encoded, SystemInputError
from systems.lowpass import LowpassAnchor, lowpass_kernel

SR = 16000


def tone(freq: float, seconds: float = 1.0, rate: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t))[None]


def round_trip(anchor: LowpassAnchor, audio: np.ndarray) -> np.ndarray:
    return anchor.decode(anchor.encode(audio))


def interior(x: np.ndarray, anchor: LowpassAnchor) -> np.ndarray:
    """Leave out the filter's half length at each end (where the clip meets the silence around it)."""
    half = len(anchor.kernel) // 2
    return x[..., half: x.shape[-1] - half]


def test_registered_as_a_codec_with_an_honest_config():
    anchor = get_system("lowpass-anchor").from_components(SimpleNamespace(ae=SimpleNamespace(sample_rate=SR)))
    assert isinstance(anchor, LowpassAnchor) and anchor.kind == "codec" and anchor.load() is anchor
    config = anchor.config()
    json.dumps(config)
    assert config["cutoff_hz"] == 3500.0 and config["taps"] == 163 and "not a compressed" in config["payload"]


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_keeps_a_1_khz_tone_and_removes_a_6_khz_tone(rate):
    anchor = LowpassAnchor(rate)
    kept, removed = (round_trip(anchor, tone(f, rate=rate)) for f in (1000.0, 6000.0))
    np.testing.assert_allclose(interior(kept, anchor), interior(tone(1000.0, rate=rate), anchor), atol=5e-4)
    assert np.abs(interior(removed, anchor)).max() < 0.5 * 10 ** (-80 / 20)  # ≥ 80 dB down


def test_response_is_minus_6_db_at_the_cutoff_and_zero_phase():
    h = lowpass_kernel(SR, 3500.0)
    assert len(h) % 2 == 1 and np.array_equal(h, h[::-1])  # symmetric odd length: zero phase when centred
    response = lambda f: abs(np.sum(h * np.exp(-2j * np.pi * f / SR * np.arange(len(h)))))  # noqa: E731
    assert response(3500.0) == pytest.approx(0.5, abs=1e-3)
    assert response(0.0) == pytest.approx(1.0) and response(3250.0) == pytest.approx(1.0, abs=1e-3)
    assert response(3750.0) < 1e-4


def test_mid_range_anchor_at_7_khz():
    anchor = LowpassAnchor(SR, cutoff_hz=7000)
    assert np.abs(interior(round_trip(anchor, tone(5000.0)) - tone(5000.0), anchor)).max() < 5e-4
    assert anchor.bitrate_kbps() == 224.0


def test_payload_is_16_bit_pcm_at_the_cutoffs_nyquist_rate():
    anchor = LowpassAnchor(SR)
    encoded = anchor.encode(np.zeros((2, 2 * SR), np.float32))
    assert anchor.bitrate_kbps() == 112.0 and encoded.payload_bits == 2 * 2 * 3500 * 16
    assert encoded.bitrate_kbps == pytest.approx(112.0) and encoded.frame_rate_hz == 7000.0
    assert encoded.codes is None and encoded.latents.shape == (2, 2 * SR)


def test_deterministic_and_independent_of_the_batch():
    anchor, rng = LowpassAnchor(SR), np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((3, 5000))).astype(np.float32)
    together = round_trip(anchor, audio)
    assert together.shape == audio.shape and together.dtype == np.float32
    np.testing.assert_array_equal(together, round_trip(anchor, audio))
    np.testing.assert_allclose(together, np.concatenate([round_trip(anchor, a[None]) for a in audio]),
                               atol=1e-6)


def test_short_clips_keep_their_length():
    assert round_trip(LowpassAnchor(SR), np.ones((1, 10), np.float32)).shape == (1, 10)


@pytest.mark.parametrize("kwargs, message", [
    ({"sample_rate": 7000}, r"cutoff_hz must lie in \(250, 3250\) Hz at 7000 Hz"),
    ({"cutoff_hz": 0}, "cutoff_hz must lie in"),
    ({"cutoff_hz": "3500"}, "cutoff_hz must lie in"),
    ({"sample_rate": -1}, "sample_rate must be a positive integer"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(SystemInputError, match=message):
        LowpassAnchor(**kwargs)


@pytest.mark.parametrize("audio, message", [
    (np.zeros((2, 2, 100), np.float32), r"mono clips \[B, n\].*audio.mean\(axis=1\)"),
    (np.zeros(100, np.float32), r"audio\[None\]"),
    (np.zeros((0, 100), np.float32), "empty audio"),
    (np.array([[0.0, np.inf]]), r"clips \[0\] contain NaN or Inf"),
])
def test_bad_audio_is_refused(audio, message):
    with pytest.raises(SystemInputError, match=message):
        LowpassAnchor(SR).encode(audio)


def test_payload_at_another_rate_or_with_steps_is_refused():
    encoded = Encoded(None, np.zeros((1, 10), np.float32), 7000.0, 1, 10, 48000)
    with pytest.raises(SystemInputError, match="payload is at 48000 Hz"):
        LowpassAnchor(SR).decode(encoded)
    with pytest.raises(SystemInputError, match="decodes without steps"):
        LowpassAnchor(48000).decode(encoded, steps=1)
