"""``lowpass-anchor``: the MUSHRA low-pass anchor (ITU-R BS.1534-3: 3.5 kHz) in the codec interface.

It is an anchor, not a coder: listening tests and codec tables put it beside the systems so
that scores have a known floor ("the original, band-limited to 3.5 kHz"). ``cutoff_hz=7000``
gives BS.1534-3's mid-range anchor.

Filter: a zero-phase linear-phase FIR, a Kaiser-windowed sinc (Kaiser's design formulas) with
its -6 dB point at ``cutoff_hz``, a 500-Hz transition band centred on it (pass band up to
cutoff − 250 Hz, stop band from cutoff + 250 Hz) and 80 dB of stop-band attenuation: 163 taps at
16 kHz, 483 at 48 kHz. It is applied centred (the odd-length kernel's middle tap on the output
sample), so the output has no delay and paired metrics compare aligned clips; outside the clip
is silence. Why not an FFT brick wall over the whole clip: its ideal sinc is infinitely long and
wraps around the clip (a transient rings at the clip's other end), and where its ripples fall
depends on the clip's length; the FIR's ringing stays within about ±5 ms of its cause whatever the
length, and its pass/stop bands are stated. Deterministic (float64 throughout).

``payload_bits`` (honest, and no compression claimed): the bits of 16-bit PCM at the Nyquist
rate of the cutoff, 2 · 3.5 kHz · 16 bit = 112 kbps: what it would cost to store the anchor's
bandwidth without coding. It is a label so that tables never show the anchor as a low-bitrate
codec; ``config()["payload"]`` says so. Encoding does not resample or quantise: the "payload"
(``Encoded.latents``) is the low-passed clip itself at the input rate.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from systems.api import Codec, Encoded, SystemInfo, SystemInputError, check_options
from systems.codec_input import check_codec_audio, check_decode_request

CUTOFF_HZ = 3500.0  # BS.1534-3's low-range anchor (7 kHz: its mid-range anchor)
TRANSITION_HZ = 500.0  # pass band to cutoff − 250 Hz, stop band from cutoff + 250 Hz
STOPBAND_DB = 80.0  # BS.1534 leaves it open; 80 dB puts leakage far below what metrics or ears resolve
PCM_BITS = 16
PAYLOAD_LABEL = "nominal: 16-bit PCM at the Nyquist rate of cutoff_hz; an anchor, not a compressed payload"


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's β for a stop band ``attenuation_db`` down (his empirical formula)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21) if a >= 21 else 0.0


def kaiser_taps(sample_rate: int, transition_hz: float, attenuation_db: float) -> int:
    """Odd tap count (Kaiser's order estimate) for a transition band ``transition_hz`` wide."""
    width = 2 * math.pi * transition_hz / sample_rate
    taps = math.ceil((attenuation_db - 7.95) / (2.285 * width)) + 1
    return taps + 1 - taps % 2  # odd: a middle tap, so the filter is zero-phase when centred


def lowpass_kernel(sample_rate: int, cutoff_hz: float, transition_hz: float = TRANSITION_HZ,
                   attenuation_db: float = STOPBAND_DB) -> np.ndarray:
    """Kaiser-windowed sinc [taps] (float64, unit DC gain) with its -6 dB point at ``cutoff_hz``."""
    taps = kaiser_taps(sample_rate, transition_hz, attenuation_db)
    k = np.arange(taps) - (taps - 1) / 2
    fc = cutoff_hz / sample_rate
    h = 2 * fc * np.sinc(2 * fc * k) * np.kaiser(taps, kaiser_beta(attenuation_db))
    return h / h.sum()


def zero_phase_filter(audio: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """audio [B, n] convolved with the odd-length ``kernel`` centred on each sample (float64)."""
    from scipy.signal import oaconvolve

    half = (len(kernel) - 1) // 2
    full = oaconvolve(np.asarray(audio, np.float64), kernel[None, :], mode="full", axes=1)
    return full[:, half: half + audio.shape[1]]


def _check_rate(sample_rate: Any) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise SystemInputError(f"lowpass-anchor: sample_rate must be a positive integer in Hz, "
                               f"got {sample_rate!r}")
    return int(sample_rate)


class LowpassAnchor(Codec):
    """The MUSHRA 3.5-kHz low-pass anchor: see the module docstring (not a compressed payload)."""

    info = SystemInfo(name="lowpass-anchor", paper="MUSHRA low-pass anchor (ITU-R BS.1534-3), 3.5 kHz; "
                      "an anchor, not a codec: its bitrate is 16-bit PCM at its bandwidth")
    row_options = ("cutoff_hz",)  # the 7-kHz mid-range anchor is another row (lowpass-anchor/cutoff_hz7000)

    def __init__(self, sample_rate: int = 16000, cutoff_hz: float = CUTOFF_HZ) -> None:
        self.sample_rate = _check_rate(sample_rate)
        self.cutoff_hz = self._check_cutoff(cutoff_hz)
        self.kernel = lowpass_kernel(self.sample_rate, self.cutoff_hz)

    def _check_cutoff(self, cutoff_hz: Any) -> float:
        number = isinstance(cutoff_hz, (int, float, np.integer, np.floating)) and not isinstance(
            cutoff_hz, bool)
        stop_edge = float(cutoff_hz) + TRANSITION_HZ / 2 if number else math.nan
        if not (number and cutoff_hz > TRANSITION_HZ / 2 and stop_edge < self.sample_rate / 2):
            raise SystemInputError(
                f"lowpass-anchor: cutoff_hz must lie in ({TRANSITION_HZ / 2:g}, "
                f"{self.sample_rate / 2 - TRANSITION_HZ / 2:g}) Hz at {self.sample_rate} Hz (its stop band "
                f"starts {TRANSITION_HZ / 2:g} Hz above it, below Nyquist), got {cutoff_hz!r}")
        return float(cutoff_hz)

    @classmethod
    def from_components(cls, components: Any, **config: Any) -> LowpassAnchor:
        check_options(config, ("cutoff_hz",), cls.info.name)
        return cls(sample_rate=components.ae.sample_rate, **config)

    def load(self, device: str = "cpu") -> LowpassAnchor:
        return self  # a fixed filter: nothing to load

    def config(self) -> dict[str, Any]:
        return {**super().config(), "cutoff_hz": self.cutoff_hz, "sample_rate": self.sample_rate,
                "filter": "zero-phase Kaiser-windowed sinc FIR", "transition_hz": TRANSITION_HZ,
                "stopband_db": STOPBAND_DB, "taps": len(self.kernel), "payload": PAYLOAD_LABEL}

    def bitrate_kbps(self) -> float:
        """Nominal: 16-bit PCM at 2·cutoff (112 kbps at 3.5 kHz); not a compressed rate."""
        return 2 * self.cutoff_hz * PCM_BITS / 1000

    def encode(self, audio: np.ndarray) -> Encoded:
        """Low-pass each clip of ``audio`` [B, n]; ``payload_bits`` is the nominal PCM size."""
        x = check_codec_audio(audio, "lowpass-anchor").astype(np.float64)
        filtered = zero_phase_filter(x, self.kernel).astype(np.float32)
        duration_s = x.shape[1] / self.sample_rate
        bits = math.ceil(duration_s * 2 * self.cutoff_hz * PCM_BITS)
        return Encoded(codes=None, latents=filtered, frame_rate_hz=2 * self.cutoff_hz, payload_bits=bits,
                       num_samples=x.shape[1], sample_rate=self.sample_rate)

    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        """The low-passed clips [B, n], clipped to [-1, 1] (the filter's ringing can overshoot)."""
        check_decode_request(encoded, steps, self.sample_rate, "lowpass-anchor")
        return np.clip(np.asarray(encoded.latents, np.float32), -1.0, 1.0)
